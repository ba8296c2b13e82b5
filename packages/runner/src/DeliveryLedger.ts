import { SqlClient } from "@effect/sql"
import { Context, Data, Effect, Layer } from "effect"

/** The ledger could not be read or written; the batch is left for redelivery. */
export class DeliveryLedgerError extends Data.TaggedError("DeliveryLedgerError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** An occurrence this worker now owns (`sending`), with what it needs to render and send. */
export interface ClaimedOccurrence {
  readonly key: string
  readonly kind: string
  readonly userId: string
  readonly dueAt: Date
  readonly deadlineAt: Date
  readonly attempts: number
  readonly email: string
  readonly firstName: string
  readonly lastName: string
  /** It was `sending` under a lease that ran out: an earlier holder may have sent it. */
  readonly reclaimed?: boolean
}

/** A key this worker did not claim, and the state that stopped it. */
export interface UnclaimedOccurrence {
  readonly key: string
  readonly state: string
  readonly dueAt: Date
  readonly updatedAt: Date
}

/** The result of claiming one batch of keys. */
export interface Claim {
  readonly claimed: ReadonlyArray<ClaimedOccurrence>
  /** Their user was deleted: recorded `cancelled`, never sent. */
  readonly cancelled: ReadonlyArray<string>
  /** Sent, settled, owned by another worker, or unknown (absent from the result). */
  readonly unclaimed: ReadonlyArray<UnclaimedOccurrence>
}

/** The end state of one claimed occurrence and the attempt that led to it. */
export interface Outcome {
  readonly key: string
  readonly state: "sent" | "retrying" | "dead" | "ambiguous" | "enqueued"
  /** Whether a provider request was made (it then counts as an attempt). */
  readonly attempted: boolean
  /** `sent`, `permanent`, `transient`, `rate_limited`, `ambiguous`, `deadline`, … */
  readonly outcome: string
  readonly status: number | null
  readonly error: string | null
  readonly startedAt: Date
  readonly finishedAt: Date
}

interface ClaimRow {
  readonly result: string
  readonly key: string
  readonly kind: string | null
  readonly user_id: string | null
  readonly due_at: Date
  readonly deadline_at: Date | null
  readonly updated_at: Date
  readonly attempts: number | null
  readonly email: string | null
  readonly first_name: string | null
  readonly last_name: string | null
}

/** The delivery workers' side of the occurrence ledger: batch claims and batch outcomes. */
export class DeliveryLedger extends Context.Tag("@birthday/runner/DeliveryLedger")<DeliveryLedger, {
  /**
   * Claims `keys` in one guarded statement: `enqueued`, `retrying`, due `pending` and stale
   * `sending` rows of live users become `sending`; rows of deleted users become `cancelled`.
   */
  readonly claim: (
    keys: ReadonlyArray<string>,
    now: Date,
    staleBefore: Date
  ) => Effect.Effect<Claim, DeliveryLedgerError>
  /** Writes outcomes (guarded on `sending`) and their attempt history; returns the keys written. */
  readonly record: (
    outcomes: ReadonlyArray<Outcome>,
    now: Date,
    runner: string
  ) => Effect.Effect<ReadonlySet<string>, DeliveryLedgerError>
  /** Marks an occurrence dead after its message exhausted `max_deliver` (unless already settled). */
  readonly markDead: (key: string, error: string, now: Date) => Effect.Effect<boolean, DeliveryLedgerError>
}>() {
  static readonly layer = Layer.effect(
    DeliveryLedger,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const claim = Effect.fn("DeliveryLedger.claim")(function*(
        keys: ReadonlyArray<string>,
        now: Date,
        staleBefore: Date
      ) {
        const list = [...new Set(keys)]
        const rows = yield* sql<ClaimRow>`
          WITH claimed AS (
            UPDATE occurrences o SET state = 'sending', updated_at = ${now}
            FROM users u
            WHERE o.key = ANY(${list}::text[]) AND u.id = o.user_id AND u.deleted_at IS NULL
              AND (o.state IN ('enqueued', 'retrying')
                OR (o.state = 'pending' AND o.due_at <= ${now})
                OR (o.state = 'sending' AND o.updated_at < ${staleBefore}))
            RETURNING o.key, o.kind, o.user_id, o.due_at, o.deadline_at, o.updated_at, o.attempts,
              u.email, u.first_name, u.last_name
          ), cancelled AS (
            UPDATE occurrences o SET state = 'cancelled', updated_at = ${now}
            FROM users u
            WHERE o.key = ANY(${list}::text[]) AND u.id = o.user_id AND u.deleted_at IS NOT NULL
              AND o.state IN ('pending', 'enqueued', 'retrying')
            RETURNING o.key, o.due_at, o.updated_at
          )
          SELECT 'claimed' AS result, c.key, c.kind, c.user_id::text AS user_id, c.due_at, c.deadline_at,
            c.updated_at, c.attempts, c.email, c.first_name, c.last_name
          FROM claimed c
          UNION ALL
          SELECT 'cancelled', x.key, NULL, NULL, x.due_at, NULL, x.updated_at, NULL, NULL, NULL, NULL FROM cancelled x
          UNION ALL
          SELECT o.state, o.key, NULL, NULL, o.due_at, NULL, o.updated_at, NULL, NULL, NULL, NULL
          FROM occurrences o
          WHERE o.key = ANY(${list}::text[])
            AND o.key NOT IN (SELECT key FROM claimed) AND o.key NOT IN (SELECT key FROM cancelled)`
        const claimed: Array<ClaimedOccurrence> = []
        const cancelled: Array<string> = []
        const unclaimed: Array<UnclaimedOccurrence> = []
        for (const row of rows) {
          if (row.result === "claimed") {
            claimed.push({
              key: row.key,
              kind: row.kind!,
              userId: row.user_id!,
              dueAt: row.due_at,
              deadlineAt: row.deadline_at!,
              attempts: row.attempts!,
              email: row.email!,
              firstName: row.first_name!,
              lastName: row.last_name!
            })
          } else if (row.result === "cancelled") {
            cancelled.push(row.key)
          } else {
            unclaimed.push({ key: row.key, state: row.result, dueAt: row.due_at, updatedAt: row.updated_at })
          }
        }
        return { claimed, cancelled, unclaimed }
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "claim", cause })))

      const record = Effect.fn("DeliveryLedger.record")(function*(
        outcomes: ReadonlyArray<Outcome>,
        now: Date,
        runner: string
      ) {
        if (outcomes.length === 0) return new Set<string>()
        const rows = yield* sql<{ key: string }>`
          WITH v AS (
            SELECT * FROM unnest(
              ${outcomes.map((o) => o.key)}::text[],
              ${outcomes.map((o) => o.state)}::text[],
              ${outcomes.map((o) => o.attempted)}::boolean[],
              ${outcomes.map((o) => o.outcome)}::text[],
              ${outcomes.map((o) => o.status)}::int[],
              ${outcomes.map((o) => o.error)}::text[],
              ${outcomes.map((o) => o.startedAt)}::timestamptz[],
              ${outcomes.map((o) => o.finishedAt)}::timestamptz[]
            ) AS v(key, state, attempted, outcome, status, error, started_at, finished_at)
          ), updated AS (
            UPDATE occurrences o SET
              state = v.state,
              attempts = o.attempts + CASE WHEN v.attempted THEN 1 ELSE 0 END,
              last_error = COALESCE(v.error, o.last_error),
              sent_at = CASE WHEN v.state = 'sent' THEN v.finished_at ELSE o.sent_at END,
              updated_at = ${now}
            FROM v
            WHERE o.key = v.key AND o.state = 'sending'
            RETURNING o.key, o.attempts
          ), history AS (
            INSERT INTO delivery_attempts (key, attempt, outcome, status, error, runner, started_at, finished_at)
            SELECT v.key, u.attempts, v.outcome, v.status, v.error, ${runner}, v.started_at, v.finished_at
            FROM v JOIN updated u ON u.key = v.key
            WHERE v.attempted OR v.state = 'dead'
          )
          SELECT key FROM updated`
        return new Set(rows.map((row) => row.key))
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "record", cause })))

      const markDead = Effect.fn("DeliveryLedger.markDead")(function*(key: string, error: string, now: Date) {
        const rows = yield* sql<{ key: string }>`
          WITH updated AS (
            UPDATE occurrences SET state = 'dead', last_error = ${error}, updated_at = ${now}
            WHERE key = ${key} AND state IN ('pending', 'enqueued', 'sending', 'retrying')
            RETURNING key, attempts
          ), history AS (
            INSERT INTO delivery_attempts (key, attempt, outcome, status, error, runner, started_at, finished_at)
            SELECT key, attempts, 'max_deliver', NULL, ${error}, 'dlq-mover', ${now}, ${now} FROM updated
          )
          SELECT key FROM updated`
        return rows.length > 0
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "markDead", cause })))

      return { claim, record, markDead }
    })
  )
}
