import {
  Delivery,
  DeliveryAttempt,
  DeliveryDetail,
  type DeliveryListParams,
  DeliveryNotFound,
  DeliveryPage,
  DeliveryQueryInvalid
} from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { DateTime, Effect, Option } from "effect"

/** An `occurrences` row as the deliveries API reads it. */
export interface DeliveryRow {
  readonly key: string
  readonly kind: string
  readonly user_id: string
  readonly year: number
  readonly state: Delivery["state"]
  readonly due_at: Date
  readonly deadline_at: Date
  readonly attempts: number
  readonly replays: number
  readonly last_error: string | null
  readonly enqueued_at: Date | null
  readonly sent_at: Date | null
  readonly updated_at: Date
}

/** The columns of a `DeliveryRow`. */
export const deliveryColumns =
  "key, kind, user_id::text AS user_id, year, state, due_at, deadline_at, attempts, replays, last_error, enqueued_at, sent_at, updated_at"

const instant = (date: Date) => DateTime.unsafeFromDate(date)
const optionalInstant = (date: Date | null) => (date === null ? null : instant(date))

/** Maps a row to the API's `Delivery`. */
export const deliveryFromRow = (row: DeliveryRow): Delivery =>
  Delivery.make({
    key: row.key,
    kind: row.kind,
    userId: row.user_id,
    year: row.year,
    state: row.state,
    dueAt: instant(row.due_at),
    deadlineAt: instant(row.deadline_at),
    attempts: row.attempts,
    replays: row.replays,
    lastError: row.last_error,
    enqueuedAt: optionalInstant(row.enqueued_at),
    sentAt: optionalInstant(row.sent_at),
    updatedAt: instant(row.updated_at)
  })

// The cursor is the (dueAt, key) of the last item: stable under inserts, opaque to clients.
const encodeCursor = (row: DeliveryRow) =>
  Buffer.from(JSON.stringify([row.due_at.toISOString(), row.key])).toString("base64url")

const decodeCursor = (cursor: string) =>
  Effect.try({
    try: () => {
      const [dueAt, key] = JSON.parse(Buffer.from(cursor, "base64url").toString()) as [string, string]
      const date = new Date(dueAt)
      // Whatever a client forges must not reach Postgres as a NUL or an instant it cannot hold.
      const year = date.getUTCFullYear()
      if (typeof key !== "string" || key.includes("\u0000") || key.length > 512) throw new Error("bad cursor")
      if (Number.isNaN(date.getTime()) || year < 1 || year > 9999) throw new Error("bad cursor")
      // As encodeCursor wrote it: Date also reads impossible days (2020-02-30 as March 1).
      if (date.toISOString() !== dueAt) throw new Error("bad cursor")
      return { dueAt: date, key }
    },
    catch: () => new DeliveryQueryInvalid({ message: "cursor is not one this API returned" })
  })

/** Reads the delivery ledger for the API. */
export class DeliveryHistory extends Effect.Service<DeliveryHistory>()("@birthday/server/DeliveryHistory", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const list = Effect.fn("DeliveryHistory.list")(function*(params: typeof DeliveryListParams.Type) {
      const limit = params.limit ?? 100
      const after = params.cursor === undefined ? Option.none() : Option.some(yield* decodeCursor(params.cursor))
      const clauses = [
        ...(params.state === undefined ? [] : [sql`state = ${params.state}`]),
        ...(params.kind === undefined ? [] : [sql`kind = ${params.kind}`]),
        ...(params.userId === undefined ? [] : [sql`user_id::text = ${params.userId}`]),
        ...(params.from === undefined ? [] : [sql`due_at >= ${DateTime.toDateUtc(params.from)}`]),
        ...(params.to === undefined ? [] : [sql`due_at < ${DateTime.toDateUtc(params.to)}`]),
        ...Option.match(after, {
          onNone: () => [],
          onSome: (cursor) => [sql`(due_at, key) > (${cursor.dueAt}, ${cursor.key})`]
        })
      ]
      const rows = yield* sql<DeliveryRow>`
        SELECT ${sql.literal(deliveryColumns)} FROM occurrences
        WHERE ${sql.and(clauses)}
        ORDER BY due_at, key
        LIMIT ${limit + 1}`.pipe(Effect.orDie)
      const page = rows.slice(0, limit)
      return DeliveryPage.make({
        items: page.map(deliveryFromRow),
        nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]) : null
      })
    })

    const get = Effect.fn("DeliveryHistory.get")(function*(key: string) {
      const [row] = yield* sql<DeliveryRow>`SELECT ${sql.literal(deliveryColumns)} FROM occurrences WHERE key = ${key}`
        .pipe(Effect.orDie)
      if (row === undefined) return yield* new DeliveryNotFound({ key, message: `No occurrence with key ${key}` })
      const attempts = yield* sql<{
        attempt: number
        outcome: string
        status: number | null
        error: string | null
        runner: string
        started_at: Date
        finished_at: Date
      }>`
        SELECT attempt, outcome, status, error, runner, started_at, finished_at
        FROM delivery_attempts WHERE key = ${key} ORDER BY id`.pipe(Effect.orDie)
      return DeliveryDetail.make({
        delivery: deliveryFromRow(row),
        attempts: attempts.map((a) =>
          DeliveryAttempt.make({
            attempt: a.attempt,
            outcome: a.outcome,
            status: a.status,
            error: a.error,
            runner: a.runner,
            startedAt: instant(a.started_at),
            finishedAt: instant(a.finished_at)
          })
        )
      })
    })

    return { list, get }
  })
}) {}
