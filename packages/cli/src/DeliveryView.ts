import type { Delivery, DeliveryAttempt, DeliveryDetail } from "@birthday/domain/DeliveriesApi"
import { DateTime } from "effect"
import { renderFields, renderTable } from "./Table.js"
import type { Column } from "./Table.js"

const iso = (value: DateTime.Utc | null) => value === null ? "-" : DateTime.formatIso(value)

/** Columns of `deliveries list`, `dlq list` and `occurrences upcoming`. */
export const deliveryColumns: ReadonlyArray<Column<Delivery>> = [
  { header: "DUE (UTC)", cell: (delivery) => iso(delivery.dueAt) },
  { header: "KIND", cell: (delivery) => delivery.kind },
  { header: "STATE", cell: (delivery) => delivery.state },
  { header: "ATTEMPTS", cell: (delivery) => String(delivery.attempts), align: "right" },
  { header: "KEY", cell: (delivery) => delivery.key },
  { header: "LAST ERROR", cell: (delivery) => delivery.lastError ?? "" }
]

const attemptColumns: ReadonlyArray<Column<DeliveryAttempt>> = [
  { header: "#", cell: (attempt) => String(attempt.attempt), align: "right" },
  { header: "OUTCOME", cell: (attempt) => attempt.outcome },
  { header: "STATUS", cell: (attempt) => attempt.status === null ? "-" : String(attempt.status) },
  { header: "STARTED", cell: (attempt) => iso(attempt.startedAt) },
  { header: "RUNNER", cell: (attempt) => attempt.runner },
  { header: "ERROR", cell: (attempt) => attempt.error ?? "" }
]

/** One delivery with its attempt history, for `deliveries show`. */
export const renderDeliveryDetail = ({ attempts, delivery }: DeliveryDetail): string =>
  [
    renderFields([
      ["key", delivery.key],
      ["kind", delivery.kind],
      ["user", delivery.userId],
      ["year", String(delivery.year)],
      ["state", delivery.state],
      ["due", iso(delivery.dueAt)],
      ["deadline", iso(delivery.deadlineAt)],
      ["attempts", String(delivery.attempts)],
      ["replays", String(delivery.replays)],
      ["last error", delivery.lastError ?? "-"],
      ["enqueued", iso(delivery.enqueuedAt)],
      ["sent", iso(delivery.sentAt)],
      ["updated", iso(delivery.updatedAt)]
    ]),
    "",
    attempts.length === 0 ? "No attempts yet." : renderTable(attemptColumns, attempts)
  ].join("\n")
