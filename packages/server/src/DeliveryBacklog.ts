import { SqlClient } from "@effect/sql"
import { Effect, Metric } from "effect"

/** Occurrences waiting to be sent or given up on, by state and kind (refreshed on each scrape). */
export const deliveryBacklog = Metric.gauge("delivery_backlog", {
  description: "Occurrences by ledger state (pending, enqueued, retrying, sending, ambiguous, dead) and kind"
})

const backlogStates = ["pending", "enqueued", "sending", "retrying", "ambiguous", "dead"] as const

/** Reads the backlog from the ledger into the `delivery_backlog` gauge; failures only log. */
export const refreshDeliveryBacklog = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ state: string; kind: string; count: string }>`
    SELECT state, kind, count(*) AS count FROM occurrences
    WHERE state IN ${sql.in(backlogStates)}
    GROUP BY state, kind`
  const seen = new Set<string>()
  for (const row of rows) {
    seen.add(`${row.state}/${row.kind}`)
    yield* Metric.set(
      deliveryBacklog.pipe(Metric.tagged("state", row.state), Metric.tagged("kind", row.kind)),
      Number(row.count)
    )
  }
  // States that emptied since the last scrape drop to zero rather than keep their last value.
  for (const pair of yield* Metric.snapshot) {
    if (pair.metricKey.name !== "delivery_backlog") continue
    const state = pair.metricKey.tags.find((tag) => tag.key === "state")?.value ?? ""
    const kind = pair.metricKey.tags.find((tag) => tag.key === "kind")?.value ?? ""
    if (!seen.has(`${state}/${kind}`)) {
      yield* Metric.set(deliveryBacklog.pipe(Metric.tagged("state", state), Metric.tagged("kind", kind)), 0)
    }
  }
}).pipe(
  Effect.timeout("2 seconds"),
  Effect.catchAllCause((cause) => Effect.logWarning("Cannot read the delivery backlog", cause)),
  Effect.withSpan("DeliveryBacklog.refresh")
)
