import type { DeliveryCommandRow } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Context, Data, Effect, Layer } from "effect"

/** The ledger could not be read or written; the batch is left for redelivery. */
export class DeliveryLedgerError extends Data.TaggedError("DeliveryLedgerError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** A command as the claim reads it: its key and the version it was published at. */
export interface CommandRef {
  readonly key: string
  /** Absent on commands published before versions existed: judged by state only. */
  readonly version?: number | undefined
}

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
  /** The lease: every outcome write and renewal of this claim must present it. */
  readonly leaseToken: string
  /** It was `sending` under a lease that ran out: an earlier holder may have sent it. */
  readonly reclaimed?: boolean
}

/** A key this worker did not claim, and the state that stopped it. */
export interface UnclaimedOccurrence {
  readonly key: string
  readonly state: string
  readonly dueAt: Date
  readonly updatedAt: Date
  /** Whether the row is still at the command's version (else the command is stale). */
  readonly current: boolean
  /** Milliseconds left on a `sending` row's lease (database time), else 0. */
  readonly leaseLeftMs: number
}

/** The result of claiming one batch of keys. */
export interface Claim {
  readonly claimed: ReadonlyArray<ClaimedOccurrence>
  /** Their user was deleted: recorded `cancelled`, never sent. */
  readonly cancelled: ReadonlyArray<string>
  /** Past their deadline before this attempt: recorded `expired` (never attempted) or `dead`. */
  readonly late: ReadonlyArray<string>
  /**
   * Not claimable at the command's version: rescheduled, replayed, settled, unknown, or held
   * under another lease (see `state` and `current`). Absent keys are unknown.
   */
  readonly unclaimed: ReadonlyArray<UnclaimedOccurrence>
}

/** The end state of one claimed occurrence and the attempt that led to it. */
export interface Outcome {
  readonly key: string
  /** The claim's lease token: the write lands only while the claim is still this one. */
  readonly leaseToken: string
  readonly state: "sent" | "retrying" | "dead" | "ambiguous" | "enqueued"
  /** Whether a provider request was made (it then counts as an attempt). */
  readonly attempted: boolean
  /** `sent`, `permanent`, `transient`, `rate_limited`, `ambiguous`, `deadline`, … */
  readonly outcome: string
  readonly status: number | null
  readonly error: string | null
  readonly startedAt: Date
  readonly finishedAt: Date
  /** For `retrying`: when the ledger wants the next attempt. */
  readonly nextAttemptAt?: Date | undefined
}

/** A row the sweeper republishes: its command may be missing. */
export interface SweptRow extends DeliveryCommandRow {
  readonly state: string
}

/** A row an operator replay moved back to `enqueued`, with its command's fields. */
export interface ReplayedRow extends DeliveryCommandRow {
  readonly replays: number
}

/** Which settled rows a bulk replay takes. */
export interface ReplayFilter {
  readonly states: ReadonlyArray<string>
  readonly from: Date
  readonly to: Date
  readonly kind?: string | undefined
}

/** How long rows wait before the sweeper assumes their message is missing. */
export interface SweepAges {
  /** `enqueued` rows not claimed for this long. */
  readonly enqueuedMs: number
  /** `retrying` rows this long past their `next_attempt_at` (or, without one, their last write). */
  readonly retryingMs: number
  /** `sending` rows this long past their lease. */
  readonly sendingMs: number
  readonly limit: number
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
  readonly lease_token: string | null
  readonly reclaimed: boolean | null
  readonly current: boolean | null
  readonly lease_left_ms: number | null
}

/**
 * The delivery side of the occurrence ledger (docs/ledger.md): batch claims under a lease,
 * lease renewals, batch outcomes fenced by the lease token, and the sweep of rows whose message
 * may be missing. Every statement is a guarded transition; nothing else writes these states.
 */
export class DeliveryLedger extends Context.Tag("@birthday/ledger/DeliveryLedger")<DeliveryLedger, {
  /**
   * `claim`, in one statement: `enqueued`/`retrying` rows still at the command's version (and
   * `sending` rows whose lease ran out) of live users become `sending` under a new lease of
   * `leaseMs` (database time); past their deadline they become `expired` (never attempted) or
   * `dead`; rows of deleted users become `cancelled`.
   */
  readonly claim: (
    commands: ReadonlyArray<CommandRef>,
    now: Date,
    leaseMs: number
  ) => Effect.Effect<Claim, DeliveryLedgerError>
  /** `renewLeases`: extends the leases of sends still in flight; returns the keys still held. */
  readonly renewLeases: (
    leases: ReadonlyArray<{ readonly key: string; readonly leaseToken: string }>,
    leaseMs: number
  ) => Effect.Effect<ReadonlySet<string>, DeliveryLedgerError>
  /** `record`: writes outcomes guarded by their lease token, and their attempt history; returns the keys written. */
  readonly record: (
    outcomes: ReadonlyArray<Outcome>,
    now: Date,
    runner: string
  ) => Effect.Effect<ReadonlySet<string>, DeliveryLedgerError>
  /**
   * `sweep`: open rows whose command may be missing (see `SweepAges`), touched so that one sweeper
   * takes each; the caller republishes them at their current version.
   */
  readonly sweep: (now: Date, ages: SweepAges) => Effect.Effect<ReadonlyArray<SweptRow>, DeliveryLedgerError>
  /**
   * `enqueued` rows of a slice moved there since `since` (a read, no transition): a slice's new
   * holder publishes their commands again under their original message id, so the broker drops
   * the ones its previous holder published and keeps the ones it recorded but died before
   * publishing. Without it those waited for the sweeper, minutes late.
   */
  readonly enqueuedInSlice: (
    slice: number,
    since: Date,
    after: string | undefined,
    limit: number
  ) => Effect.Effect<ReadonlyArray<SweptRow>, DeliveryLedgerError>
  /**
   * `replay` of one key: `dead | ambiguous | expired` (or a stuck `enqueued`) of a live user →
   * `enqueued`, version+1, attempts reset, deadline extended to `at + windowMs`. None when refused.
   */
  readonly replayOne: (
    key: string,
    at: Date,
    windowMs: number
  ) => Effect.Effect<ReadonlyArray<ReplayedRow>, DeliveryLedgerError>
  /** `replay` of up to `limit` rows matching `filter`, oldest first (one bounded batch). */
  readonly replayBatch: (
    filter: ReplayFilter,
    at: Date,
    windowMs: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ReplayedRow>, DeliveryLedgerError>
  /** How many rows of live users `filter` matches (a bulk replay's dry run). */
  readonly countReplayable: (filter: ReplayFilter) => Effect.Effect<number, DeliveryLedgerError>
}>() {
  static readonly layer = Layer.effect(
    DeliveryLedger,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      const claim = Effect.fn("DeliveryLedger.claim")(function*(
        commands: ReadonlyArray<CommandRef>,
        now: Date,
        leaseMs: number
      ) {
        const seen = new Set<string>()
        const refs = commands.filter((c) => {
          const id = `${c.key}\u0000${c.version ?? ""}`
          if (seen.has(id)) return false
          seen.add(id)
          return true
        })
        const rows = yield* sql<ClaimRow>`
          WITH c AS (
            SELECT * FROM unnest(${refs.map((c) => c.key)}::text[], ${refs.map((c) => c.version ?? null)}::bigint[])
              AS c(key, version)
          ), locked AS (
            -- Rows are locked in key order, as every batch statement on occurrences does: two
            -- batches (a claim, a lease renewal, an outcome write) sharing keys wait, never deadlock.
            SELECT o.key FROM occurrences o
            WHERE o.key IN (SELECT key FROM c) AND o.state IN ('pending', 'enqueued', 'retrying', 'sending')
            ORDER BY o.key FOR UPDATE
          ), claimed AS (
            UPDATE occurrences o SET state = 'sending', lease_token = gen_random_uuid(),
              lease_until = now() + ${leaseMs} * interval '1 millisecond', updated_at = ${now}
            FROM c JOIN locked l ON l.key = c.key, users u,
              LATERAL (SELECT p.state AS was FROM occurrences p WHERE p.key = c.key) prev
            WHERE o.key = c.key AND (c.version IS NULL OR o.version = c.version)
              AND u.id = o.user_id AND u.deleted_at IS NULL AND o.deadline_at >= ${now}
              AND (o.state IN ('enqueued', 'retrying')
                OR (o.state = 'sending' AND (o.lease_until IS NULL OR o.lease_until < now())))
            RETURNING o.key, o.kind, o.user_id, o.due_at, o.deadline_at, o.updated_at, o.attempts,
              u.email, u.first_name, u.last_name, o.lease_token, prev.was = 'sending' AS reclaimed
          ), late AS (
            -- The holder of a stale sending row may have sent it before it went silent (crashed,
            -- paused, cut off): possibly delivered, so ambiguous, for an operator, never dead.
            UPDATE occurrences o SET
              state = CASE WHEN o.state = 'enqueued' AND o.attempts = 0 THEN 'expired'
                WHEN o.state = 'sending' THEN 'ambiguous' ELSE 'dead' END,
              version = o.version + 1, lease_token = NULL, lease_until = NULL, updated_at = ${now},
              last_error = CASE WHEN o.state = 'sending'
                THEN 'lease ran out with a send in flight, and the deadline ' || to_char(o.deadline_at AT TIME ZONE 'UTC',
                  'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' passed: possibly delivered'
                ELSE COALESCE(o.last_error, 'deadline ' || to_char(o.deadline_at AT TIME ZONE 'UTC',
                  'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' passed before the attempt') END
            FROM c JOIN locked l ON l.key = c.key, users u
            WHERE o.key = c.key AND (c.version IS NULL OR o.version = c.version)
              AND u.id = o.user_id AND u.deleted_at IS NULL AND o.deadline_at < ${now}
              AND (o.state IN ('enqueued', 'retrying')
                OR (o.state = 'sending' AND (o.lease_until IS NULL OR o.lease_until < now())))
            RETURNING o.key, o.state, o.attempts, o.due_at, o.updated_at
          ), late_history AS (
            INSERT INTO delivery_attempts (key, attempt, outcome, status, error, runner, started_at, finished_at)
            SELECT key, attempts, 'deadline', NULL,
              CASE WHEN state = 'ambiguous' THEN 'lease ran out with a send in flight; deadline passed'
                ELSE 'deadline passed before the attempt' END, 'ledger', ${now}, ${now}
            FROM late WHERE state IN ('dead', 'ambiguous')
          ), cancelled AS (
            -- A deleted user's open rows are cancelled, never sent. One whose holder's lease ran out
            -- mid-send may have reached the provider before the holder went silent: ambiguous
            -- (possibly delivered), as every such row is, not cancelled (never sent).
            UPDATE occurrences o SET state = CASE WHEN o.state = 'sending' THEN 'ambiguous' ELSE 'cancelled' END,
              version = o.version + 1, lease_token = NULL, lease_until = NULL, updated_at = ${now},
              last_error = CASE WHEN o.state = 'sending'
                THEN 'lease ran out with a send in flight, and the user was deleted: possibly delivered'
                ELSE o.last_error END
            FROM users u
            WHERE o.key IN (SELECT key FROM locked) AND u.id = o.user_id AND u.deleted_at IS NOT NULL
              AND (o.state IN ('pending', 'enqueued', 'retrying')
                OR (o.state = 'sending' AND (o.lease_until IS NULL OR o.lease_until < now())))
            RETURNING o.key, o.due_at, o.updated_at
          )
          SELECT 'claimed' AS result, x.key, x.kind, x.user_id::text AS user_id, x.due_at, x.deadline_at,
            x.updated_at, x.attempts, x.email, x.first_name, x.last_name, x.lease_token::text AS lease_token,
            x.reclaimed, NULL::boolean AS current, NULL::float8 AS lease_left_ms
          FROM claimed x
          UNION ALL
          SELECT 'cancelled', x.key, NULL, NULL, x.due_at, NULL, x.updated_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL
          FROM cancelled x
          UNION ALL
          SELECT 'late', x.key, NULL, NULL, x.due_at, NULL, x.updated_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
          FROM late x
          UNION ALL
          SELECT o.state, o.key, NULL, NULL, o.due_at, NULL, o.updated_at, NULL, NULL, NULL, NULL, NULL, NULL,
            bool_or(c.version IS NULL OR o.version = c.version),
            GREATEST(0, extract(epoch FROM max(o.lease_until) - now()) * 1000)::float8
          FROM occurrences o JOIN c ON c.key = o.key
          WHERE o.key NOT IN (SELECT key FROM claimed) AND o.key NOT IN (SELECT key FROM cancelled)
            AND o.key NOT IN (SELECT key FROM late)
          GROUP BY o.state, o.key, o.due_at, o.updated_at`
        const claimed: Array<ClaimedOccurrence> = []
        const cancelled: Array<string> = []
        const late: Array<string> = []
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
              lastName: row.last_name!,
              leaseToken: row.lease_token!,
              reclaimed: row.reclaimed === true
            })
          } else if (row.result === "cancelled") {
            cancelled.push(row.key)
          } else if (row.result === "late") {
            late.push(row.key)
          } else {
            unclaimed.push({
              key: row.key,
              state: row.result,
              dueAt: row.due_at,
              updatedAt: row.updated_at,
              current: row.current === true,
              leaseLeftMs: Number(row.lease_left_ms ?? 0)
            })
          }
        }
        return { claimed, cancelled, late, unclaimed }
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "claim", cause })))

      const renewLeases = Effect.fn("DeliveryLedger.renewLeases")(function*(
        leases: ReadonlyArray<{ readonly key: string; readonly leaseToken: string }>,
        leaseMs: number
      ) {
        if (leases.length === 0) return new Set<string>()
        const rows = yield* sql<{ key: string }>`
          WITH v AS (
            SELECT * FROM unnest(${leases.map((l) => l.key)}::text[], ${leases.map((l) => l.leaseToken)}::uuid[])
              AS v(key, token)
          ), locked AS (
            SELECT o.key FROM occurrences o WHERE o.key IN (SELECT key FROM v) AND o.state = 'sending'
            ORDER BY o.key FOR UPDATE
          )
          UPDATE occurrences o SET lease_until = now() + ${leaseMs} * interval '1 millisecond'
          FROM v JOIN locked l ON l.key = v.key
          WHERE o.key = v.key AND o.state = 'sending' AND o.lease_token = v.token
          RETURNING o.key`
        return new Set(rows.map((row) => row.key))
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "renewLeases", cause })))

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
              ${outcomes.map((o) => o.finishedAt)}::timestamptz[],
              ${outcomes.map((o) => o.leaseToken)}::uuid[],
              ${outcomes.map((o) => o.nextAttemptAt ?? null)}::timestamptz[]
            ) AS v(key, state, attempted, outcome, status, error, started_at, finished_at, token, next_attempt_at)
          ), locked AS (
            SELECT o.key FROM occurrences o WHERE o.key IN (SELECT key FROM v) AND o.state = 'sending'
            ORDER BY o.key FOR UPDATE
          ), updated AS (
            UPDATE occurrences o SET
              state = v.state,
              attempts = o.attempts + CASE WHEN v.attempted THEN 1 ELSE 0 END,
              last_error = COALESCE(v.error, o.last_error),
              -- When it was sent: the request's start (a slow answer must not look sent after the deadline).
              sent_at = CASE WHEN v.state = 'sent' THEN v.started_at ELSE o.sent_at END,
              next_attempt_at = v.next_attempt_at, lease_token = NULL, lease_until = NULL,
              updated_at = ${now}
            FROM v JOIN locked l ON l.key = v.key
            WHERE o.key = v.key AND o.state = 'sending' AND o.lease_token = v.token
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

      const enqueuedInSlice = Effect.fn("DeliveryLedger.enqueuedInSlice")(
        function*(slice: number, since: Date, after: string | undefined, limit: number) {
          return yield* sql<SweptRow>`
            SELECT key, kind, user_id::text AS user_id, year, due_at, deadline_at, version, state
            FROM occurrences
            WHERE slice = ${slice} AND state = 'enqueued' AND updated_at >= ${since}
              ${after === undefined ? sql`` : sql`AND key > ${after}`}
            ORDER BY key LIMIT ${limit}`
        },
        Effect.mapError((cause) => new DeliveryLedgerError({ operation: "enqueuedInSlice", cause }))
      )

      const sweep = Effect.fn("DeliveryLedger.sweep")(function*(now: Date, ages: SweepAges) {
        const at = now.getTime()
        return yield* sql<SweptRow>`
          UPDATE occurrences o SET updated_at = ${now}
          WHERE o.key IN (
            SELECT key FROM occurrences
            -- A command queued ahead of its due time (SLICE_FIRE_AHEAD) waits in the broker until then:
            -- unclaimed counts from the later of the two.
            WHERE (state = 'enqueued' AND updated_at < ${new Date(at - ages.enqueuedMs)}
                AND due_at < ${new Date(at - ages.enqueuedMs)})
              OR (state = 'retrying'
                AND COALESCE(next_attempt_at, updated_at) < ${new Date(at - ages.retryingMs)})
              OR (state = 'sending' AND lease_until < now() - ${ages.sendingMs} * interval '1 millisecond')
            ORDER BY due_at LIMIT ${ages.limit} FOR UPDATE SKIP LOCKED)
          AND o.state IN ('enqueued', 'retrying', 'sending')
          RETURNING o.key, o.kind, o.user_id::text AS user_id, o.year, o.due_at, o.deadline_at, o.version, o.state`
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "sweep", cause })))

      const requeue = (at: Date, windowMs: number) =>
        sql`
          state = 'enqueued', version = o.version + 1, attempts = 0, replays = o.replays + 1, enqueued_at = ${at},
          updated_at = ${at}, lease_token = NULL, lease_until = NULL, next_attempt_at = NULL,
          deadline_at = GREATEST(o.deadline_at, ${new Date(at.getTime() + windowMs)})`
      const replayedColumns = sql`o.key, o.kind, o.user_id::text AS user_id, o.year, o.due_at, o.deadline_at, o.replays,
        o.version`

      const replayOne = Effect.fn("DeliveryLedger.replayOne")(function*(key: string, at: Date, windowMs: number) {
        return yield* sql<ReplayedRow>`
          UPDATE occurrences o SET ${requeue(at, windowMs)}
          FROM users u
          WHERE o.key = ${key} AND u.id = o.user_id AND u.deleted_at IS NULL
            AND o.state IN ('dead', 'ambiguous', 'expired', 'enqueued')
          RETURNING ${replayedColumns}`
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "replayOne", cause })))

      const matching = (filter: ReplayFilter) =>
        sql.and([
          sql`o.state IN ${sql.in([...filter.states])}`,
          sql`o.due_at >= ${filter.from}`,
          sql`o.due_at < ${filter.to}`,
          ...(filter.kind === undefined ? [] : [sql`o.kind = ${filter.kind}`])
        ])

      const replayBatch = Effect.fn("DeliveryLedger.replayBatch")(
        function*(filter: ReplayFilter, at: Date, windowMs: number, limit: number) {
          return yield* sql<ReplayedRow>`
            UPDATE occurrences o SET ${requeue(at, windowMs)}
            WHERE o.key IN (
              SELECT o.key FROM occurrences o JOIN users u ON u.id = o.user_id
              WHERE ${matching(filter)} AND u.deleted_at IS NULL
              ORDER BY o.due_at LIMIT ${limit} FOR UPDATE OF o SKIP LOCKED
            ) AND o.state IN ${sql.in([...filter.states])}
            RETURNING ${replayedColumns}`
        },
        Effect.mapError((cause) => new DeliveryLedgerError({ operation: "replayBatch", cause }))
      )

      const countReplayable = Effect.fn("DeliveryLedger.countReplayable")(function*(filter: ReplayFilter) {
        const [row] = yield* sql<{ count: string }>`
          SELECT count(*) AS count FROM occurrences o JOIN users u ON u.id = o.user_id
          WHERE ${matching(filter)} AND u.deleted_at IS NULL`
        return Number(row?.count ?? 0)
      }, Effect.mapError((cause) => new DeliveryLedgerError({ operation: "countReplayable", cause })))

      return { claim, renewLeases, record, sweep, enqueuedInSlice, replayOne, replayBatch, countReplayable }
    })
  )
}
