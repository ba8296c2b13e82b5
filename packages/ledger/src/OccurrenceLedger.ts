import {
  decideOccurrence,
  type LedgerEntry,
  type LedgerState,
  LifecycleDecision,
  type OccasionKind,
  type OccasionKindName,
  OccasionSettings,
  type OccasionSubject,
  type Occurrence
} from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Layer, Option } from "effect"

/** The Postgres channel on which user writes announce `"{slice}:{userId}"` (delivered on commit). */
export const occurrenceChangesChannel = "occurrence_changes"

/** A pending occurrence as a slice holds it: just enough to fire it. */
export interface PendingRow {
  readonly key: string
  readonly kind: OccasionKindName
  readonly user_id: string
  readonly year: number
  /** Epoch milliseconds. */
  readonly due_ms: number
}

/** A user's fields the calendar needs, plus the slice the user lives in. */
export interface LedgerSubject extends OccasionSubject {
  readonly slice: number
}

/** One row of `GET /users/{id}/occurrences`. */
export interface NextOccurrenceRow {
  readonly key: string
  readonly kind: OccasionKindName
  readonly year: number
  readonly local_date: string
  readonly due_ms: number
  readonly state: LedgerState
  readonly time_zone: string
}

interface EntryRow {
  readonly key: string
  readonly kind: OccasionKindName
  readonly user_id: string
  readonly year: number
  readonly local_date: string
  readonly due_ms: number
  readonly tzdata: string
  readonly state: LedgerState
}

interface SubjectRow {
  readonly id: string
  readonly birthday: string
  readonly anniversary: string | null
  readonly time_zone: string
  readonly slice: number
}

const toEntry = (row: EntryRow): LedgerEntry => ({
  occurrence: {
    key: row.key,
    kind: row.kind,
    userId: row.user_id,
    year: row.year,
    localDate: row.local_date,
    dueAt: row.due_ms,
    tzdata: row.tzdata
  },
  state: row.state
})

const toSubject = (row: SubjectRow): LedgerSubject => ({
  id: row.id,
  birthday: row.birthday,
  anniversary: row.anniversary,
  timeZone: row.time_zone,
  slice: row.slice
})

const dueMsOf = (table: string) => `(extract(epoch FROM ${table}.due_at) * 1000)::float8 AS due_ms`
const dueMs = "(extract(epoch FROM due_at) * 1000)::float8 AS due_ms"

/** States that close their year for the kind (docs/ledger.md); `cancelled` does when attempted. */
const closingStates = ["enqueued", "sending", "retrying", "sent", "ambiguous", "dead", "expired"]

/** A key of a slice round and the epoch its slice's runner holds the slice at (the round's fence). */
export interface RoundItem {
  readonly key: string
  readonly epoch: number
}

/** A row a slice round moved to `enqueued` or `expired`, with what its command carries. */
export interface SettledRow extends PendingRow {
  readonly version: number
  readonly deadline_ms: number
}

/**
 * The occurrence ledger in Postgres. Every state change is a guarded update; inserts dedupe on the
 * occurrence key. Writes run inside the caller's transaction when there is one.
 */
export class OccurrenceLedger extends Effect.Service<OccurrenceLedger>()("@birthday/ledger/OccurrenceLedger", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const kinds = yield* OccasionSettings

    const lateMs = (kind: OccasionKindName) => Duration.toMillis(kinds.byName[kind].lateWindow)

    type PendingItems = ReadonlyArray<{ readonly occurrence: Occurrence; readonly slice: number }>

    /** The multi-row insert of occurrences as pending; existing keys are left alone. */
    const insertPendingRows = (items: PendingItems, now: number) => {
      const o = items.map((item) => item.occurrence)
      return sql`
        INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
                                 created_at, updated_at)
        SELECT k, kd, u, y, s, ld::date, to_timestamp(d / 1000.0), to_timestamp(dl / 1000.0), 'pending', tz,
               to_timestamp(${now} / 1000.0), to_timestamp(${now} / 1000.0)
        FROM unnest(${o.map((x) => x.key)}::text[], ${o.map((x) => x.kind)}::text[],
                    ${o.map((x) => x.userId)}::uuid[], ${o.map((x) => x.year)}::int[],
                    ${items.map((x) => x.slice)}::int[], ${o.map((x) => x.localDate)}::text[],
                    ${o.map((x) => x.dueAt)}::float8[], ${o.map((x) => x.dueAt + lateMs(x.kind))}::float8[],
                    ${o.map((x) => x.tzdata)}::text[]) AS t(k, kd, u, y, s, ld, d, dl, tz)
        ON CONFLICT (key)`
    }

    /** Stores occurrences as pending in one statement and returns the rows that were new. */
    const insertPending = Effect.fn("OccurrenceLedger.insertPending")(function*(items: PendingItems, now: number) {
      if (items.length === 0) return []
      return yield* sql<PendingRow>`${insertPendingRows(items, now)} DO NOTHING RETURNING key, kind, user_id, year, ${
        sql.literal(dueMs)
      }`
    })

    /**
     * The insert of occurrences as pending (existing keys left alone) as a statement fragment, for
     * a caller that runs it in one statement with the write it belongs to (a user's create).
     */
    const pendingStatement = (items: PendingItems, now: number) => sql`${insertPendingRows(items, now)} DO NOTHING`

    /**
     * Stores occurrences as pending in one statement, returning nothing: creates and imports know
     * what they wrote, and a million-row import should not read a million rows back.
     */
    const storePending = Effect.fn("OccurrenceLedger.storePending")(function*(items: PendingItems, now: number) {
      if (items.length > 0) yield* pendingStatement(items, now)
    })

    /** The first occurrence of every kind for users that have none yet (create, import). */
    const firstOccurrences = (
      users: ReadonlyArray<{ readonly subject: OccasionSubject; readonly slice: number }>,
      now: number
    ) =>
      users.flatMap(({ slice, subject }) =>
        kinds.all.flatMap((kind) => {
          const decision = decideOccurrence({ kind, previous: Option.none(), user: Option.some(subject), now })
          return decision._tag === "Reschedule" ? [{ occurrence: decision.occurrence as Occurrence, slice }] : []
        })
      )

    /**
     * `reschedule`: stores a (re)computed occurrence as pending (version+1), unless its key has
     * moved past pending; a cancelled row is revived only when it was never attempted. Any other
     * pending row of the user's kind (another year) is cancelled: one open occurrence per kind.
     */
    const upsertPending = (occurrence: Occurrence, slice: number, now: number) =>
      Effect.zipRight(
        sql`
          INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
                                   created_at, updated_at)
          VALUES (${occurrence.key}, ${occurrence.kind}, ${occurrence.userId}, ${occurrence.year}, ${slice},
                  ${occurrence.localDate}::date, to_timestamp(${occurrence.dueAt} / 1000.0),
                  to_timestamp(${occurrence.dueAt + lateMs(occurrence.kind)} / 1000.0), 'pending',
                  ${occurrence.tzdata}, to_timestamp(${now} / 1000.0), to_timestamp(${now} / 1000.0))
          ON CONFLICT (key) DO UPDATE SET
            local_date = EXCLUDED.local_date, due_at = EXCLUDED.due_at, deadline_at = EXCLUDED.deadline_at,
            tzdata = EXCLUDED.tzdata, state = 'pending', version = occurrences.version + 1,
            updated_at = EXCLUDED.updated_at
          WHERE occurrences.state = 'pending' OR (occurrences.state = 'cancelled' AND occurrences.attempts = 0)`,
        sql`
          UPDATE occurrences SET state = 'cancelled', version = version + 1, updated_at = to_timestamp(${now} / 1000.0)
          WHERE user_id = ${occurrence.userId} AND kind = ${occurrence.kind} AND key <> ${occurrence.key}
            AND state = 'pending'`
      )

    /** Applies one lifecycle decision for a kind of a user (guarded updates only). */
    const apply = Effect.fn("OccurrenceLedger.apply")(
      function*(kind: OccasionKind, userId: string, slice: number, decision: LifecycleDecision, now: number) {
        yield* LifecycleDecision.$match(decision, {
          Keep: () => Effect.void,
          Reschedule: ({ occurrence }) => upsertPending(occurrence, slice, now),
          // Stored pending with its past dueAt: the owning slice fires it as soon as it is told.
          SendNow: ({ occurrence }) => upsertPending(occurrence, slice, now),
          NextYear: ({ occurrence }) => upsertPending(occurrence, slice, now),
          Expire: ({ occurrence }) =>
            sql`
              UPDATE occurrences SET state = 'expired', version = version + 1, local_date = ${occurrence.localDate}::date,
                due_at = to_timestamp(${occurrence.dueAt} / 1000.0), tzdata = ${occurrence.tzdata},
                updated_at = to_timestamp(${now} / 1000.0)
              WHERE key = ${occurrence.key} AND state IN ('pending', 'retrying')`,
          Cancel: () =>
            sql`
              UPDATE occurrences SET state = 'cancelled', version = version + 1, updated_at = to_timestamp(${now} / 1000.0)
              WHERE user_id = ${userId} AND kind = ${kind.name} AND state IN ('pending', 'retrying', 'enqueued')`
        })
      }
    )

    /** The latest ledger entry of each kind for a user (highest year). */
    const latestEntries = (userId: string) =>
      Effect.map(
        sql<EntryRow>`
          SELECT DISTINCT ON (kind) key, kind, user_id, year, local_date::text AS local_date, ${sql.literal(dueMs)},
                 tzdata, state
          FROM occurrences WHERE user_id = ${userId} ORDER BY kind, year DESC`,
        (rows) => new Map(rows.map((row) => [row.kind, toEntry(row)] as const))
      )

    /**
     * The latest settled year of each kind for a user: greeted, given up, handed to the queue, or
     * attempted and then cancelled (it may have reached the provider; it is never revived).
     */
    const settledYears = (userId: string) =>
      Effect.map(
        sql<{ kind: OccasionKindName; year: number }>`
          SELECT kind, max(year)::int AS year FROM occurrences
          WHERE user_id = ${userId}
            AND (state IN ${sql.in(closingStates)} OR (state = 'cancelled' AND attempts > 0))
          GROUP BY kind`,
        (rows) => new Map(rows.map((row) => [row.kind, row.year] as const))
      )

    /**
     * Brings a user's occurrences in line with the user as it now is (none = deleted): the
     * calendar's lifecycle decision for every kind, applied in the caller's transaction, which has
     * locked the user row (the edit), so no slice round settles this user meanwhile. An expired
     * occurrence is followed by next year's.
     */
    const reconcileUser = Effect.fn("OccurrenceLedger.reconcileUser")(
      function*(userId: string, slice: number, user: Option.Option<OccasionSubject>, now: number) {
        const latest = yield* latestEntries(userId)
        const settledYear = yield* settledYears(userId)
        const decisions: Array<LifecycleDecision> = []
        for (const kind of kinds.all) {
          let previous = Option.fromNullable(latest.get(kind.name))
          let settled = settledYear.get(kind.name)
          for (let step = 0; step < 3; step++) {
            const decision = decideOccurrence({ kind, previous, user, now, settledYear: settled })
            yield* apply(kind, userId, slice, decision, now)
            decisions.push(decision)
            if (decision._tag !== "Expire") break
            previous = Option.some({ occurrence: decision.occurrence, state: "expired" })
            settled = decision.occurrence.year
          }
        }
        return decisions
      }
    )

    /** Cancels every open occurrence of a user (delete). */
    const cancelUser = Effect.fn("OccurrenceLedger.cancelUser")(function*(userId: string, now: number) {
      const rows = yield* sql<{ key: string }>`
        UPDATE occurrences SET state = 'cancelled', version = version + 1, updated_at = to_timestamp(${now} / 1000.0)
        WHERE user_id = ${userId} AND state IN ('pending', 'retrying', 'enqueued')
        RETURNING key`
      return rows.length
    })

    /** The earliest due time among a user's open occurrences (the ones a slice may hold), if any. */
    const nextOpenDue = Effect.fn("OccurrenceLedger.nextOpenDue")(function*(userId: string) {
      const rows = yield* sql<{ due: number | null }>`
        SELECT extract(epoch FROM min(due_at)) * 1000 AS due FROM occurrences
        WHERE user_id = ${userId} AND state IN ('pending', 'retrying')`
      return Option.fromNullable(rows[0]?.due).pipe(Option.map(Number))
    })

    /** `notifyChange` as a statement fragment (a `SELECT` of one row), to run inside another statement. */
    const notifyStatement = (slice: number, userId: string) =>
      sql`SELECT pg_notify(${occurrenceChangesChannel}, ${`${slice}:${userId}`})`

    /** Tells the runner that owns `slice` to reload `userId`; Postgres delivers it on commit. */
    const notifyChange = (slice: number, userId: string) =>
      notifyStatement(slice, userId).pipe(Effect.asVoid, Effect.withSpan("OccurrenceLedger.notifyChange"))

    /**
     * Pending occurrences of a slice due at or before `until`, in due order, one bounded batch at a
     * time: pass the last row of the previous batch as `after`; `from` excludes what is loaded.
     */
    const pendingInSlice = Effect.fn("OccurrenceLedger.pendingInSlice")(function*(options: {
      readonly slice: number
      readonly until: number
      readonly from?: number | undefined
      readonly after?: { readonly dueMs: number; readonly key: string } | undefined
      readonly limit: number
    }) {
      const { after, from, limit, slice, until } = options
      return yield* sql<PendingRow>`
        SELECT key, kind, user_id, year, ${sql.literal(dueMs)} FROM occurrences
        WHERE slice = ${slice} AND state = 'pending' AND due_at <= to_timestamp(${until} / 1000.0)
          ${from === undefined ? sql`` : sql`AND due_at > to_timestamp(${from} / 1000.0)`}
          ${
        after === undefined ? sql`` : sql`AND (due_at, key) > (to_timestamp(${after.dueMs} / 1000.0), ${after.key})`
      }
        ORDER BY due_at, key LIMIT ${limit}`
    })

    /** Pending occurrences of some users due at or before `until`. */
    const pendingForUsers = Effect.fn("OccurrenceLedger.pendingForUsers")(
      function*(userIds: ReadonlyArray<string>, until: number) {
        if (userIds.length === 0) return []
        return yield* sql<PendingRow>`
          SELECT key, kind, user_id, year, ${sql.literal(dueMs)} FROM occurrences
          WHERE user_id = ANY(${userIds}::uuid[]) AND state = 'pending'
            AND due_at <= to_timestamp(${until} / 1000.0)
          ORDER BY due_at, key`
      }
    )

    /**
     * Locks the live users of `keys` `FOR SHARE` (in id order) and returns them: a slice round
     * waits for an edit holding one of them and computes successors from the committed user.
     */
    const lockSubjects = (keys: ReadonlyArray<string>) =>
      Effect.map(
        sql<SubjectRow>`
          SELECT id, birthday::text AS birthday, anniversary::text AS anniversary, time_zone, slice FROM users
          WHERE id IN (SELECT user_id FROM occurrences WHERE key = ANY(${keys}::text[])) AND deleted_at IS NULL
          ORDER BY id FOR SHARE`,
        (rows) => new Map(rows.map((row) => [row.id, toSubject(row)] as const))
      )

    /** The live users among `ids`, by id. */
    const subjects = Effect.fn("OccurrenceLedger.subjects")(function*(ids: ReadonlyArray<string>) {
      if (ids.length === 0) return new Map<string, LedgerSubject>()
      const rows = yield* sql<SubjectRow>`
        SELECT id, birthday::text AS birthday, anniversary::text AS anniversary, time_zone, slice FROM users
        WHERE id = ANY(${ids}::uuid[]) AND deleted_at IS NULL`
      return new Map(rows.map((row) => [row.id, toSubject(row)] as const))
    })

    /** A round's keys with their fence: the row's slice must still be held at the round's epoch. */
    const fencedItems = (items: ReadonlyArray<RoundItem>) =>
      sql`unnest(${items.map((i) => i.key)}::text[], ${items.map((i) => i.epoch)}::bigint[]) AS f(key, epoch)`
    const fenced = sql`o.key = f.key
      AND EXISTS (SELECT 1 FROM slice_ownership s WHERE s.slice = o.slice AND s.epoch = f.epoch)`

    /**
     * `enqueue`: `pending → enqueued` for keys of fenced slices due by `now + aheadMs` (a round
     * hands greetings to the queue a little before they are due; workers send each when due);
     * returns the rows that moved.
     */
    const markEnqueued = (items: ReadonlyArray<RoundItem>, now: number, aheadMs: number) =>
      sql<SettledRow>`
        UPDATE occurrences o SET state = 'enqueued', version = o.version + 1,
          enqueued_at = to_timestamp(${now} / 1000.0), updated_at = to_timestamp(${now} / 1000.0)
        FROM ${fencedItems(items)}
        WHERE ${fenced} AND o.state = 'pending' AND o.due_at <= to_timestamp(${now + Math.max(0, aheadMs)} / 1000.0)
        RETURNING o.key, o.kind, o.user_id, o.year, ${sql.literal(dueMsOf("o"))}, o.version::float8 AS version,
          (extract(epoch FROM o.deadline_at) * 1000)::float8 AS deadline_ms`

    /** `expire`: `pending → expired` for keys of one kind past its late window, of fenced slices. */
    const markExpired = (kind: OccasionKindName, items: ReadonlyArray<RoundItem>, now: number) =>
      sql<SettledRow>`
        UPDATE occurrences o SET state = 'expired', version = o.version + 1, updated_at = to_timestamp(${now} / 1000.0)
        FROM ${fencedItems(items)}
        WHERE ${fenced} AND o.kind = ${kind} AND o.state = 'pending'
          AND o.due_at < to_timestamp(${now - lateMs(kind)} / 1000.0)
        RETURNING o.key, o.kind, o.user_id, o.year, ${sql.literal(dueMsOf("o"))}, o.version::float8 AS version,
          (extract(epoch FROM o.deadline_at) * 1000)::float8 AS deadline_ms`

    /**
     * The successor of each settled row (the calendar's `NextYear` decision from the locked user),
     * inserted as pending, or revived when that key was cancelled before any attempt; returns the
     * rows written. A successor that exists open is left alone.
     */
    const insertSuccessors = (
      settled: ReadonlyArray<SettledRow>,
      users: ReadonlyMap<string, LedgerSubject>,
      now: number
    ) =>
      Effect.gen(function*() {
        const next: Array<{ occurrence: Occurrence; slice: number }> = []
        for (const row of settled) {
          const user = users.get(row.user_id)
          if (user === undefined) continue
          const previous: LedgerEntry = {
            occurrence: {
              key: row.key,
              kind: row.kind,
              userId: row.user_id,
              year: row.year,
              localDate: "",
              dueAt: row.due_ms,
              tzdata: ""
            },
            state: "enqueued"
          }
          const decision = decideOccurrence({
            kind: kinds.byName[row.kind],
            previous: Option.some(previous),
            user: Option.some(user),
            now,
            settledYear: row.year
          })
          if (decision._tag === "NextYear") next.push({ occurrence: decision.occurrence, slice: user.slice })
        }
        if (next.length === 0) return []
        return yield* sql<PendingRow>`${insertPendingRows(next, now)}
          DO UPDATE SET local_date = EXCLUDED.local_date, due_at = EXCLUDED.due_at, deadline_at = EXCLUDED.deadline_at,
            tzdata = EXCLUDED.tzdata, state = 'pending', version = occurrences.version + 1,
            updated_at = EXCLUDED.updated_at
          WHERE occurrences.state = 'cancelled' AND occurrences.attempts = 0
          RETURNING key, kind, user_id, year, ${sql.literal(dueMs)}`
      })

    /**
     * A slice round, in one transaction: lock the round's users, then `enqueue` (or `expire` when
     * `expiredKind` is given) the keys their slice epoch and the guards allow, and store each moved row's
     * successor. Only the rows in `settled` may then be published (record, then publish).
     */
    const settle = Effect.fn("OccurrenceLedger.settle")(
      function*(
        items: ReadonlyArray<RoundItem>,
        now: number,
        options: { readonly expiredKind?: OccasionKindName; readonly aheadMs?: number } = {}
      ) {
        if (items.length === 0) {
          return { settled: [] as ReadonlyArray<SettledRow>, next: [] as ReadonlyArray<PendingRow> }
        }
        const { aheadMs = 0, expiredKind } = options
        const users = yield* lockSubjects(items.map((item) => item.key))
        const settled = expiredKind === undefined
          ? yield* markEnqueued(items, now, aheadMs)
          : yield* markExpired(expiredKind, items, now)
        const next = yield* insertSuccessors(settled, users, now)
        return { settled, next }
      },
      sql.withTransaction
    )

    /** Recomputes the occurrences of some users (tzdata change) in one transaction, users locked first. */
    const recomputeUsers = Effect.fn("OccurrenceLedger.recomputeUsers")(
      function*(userIds: ReadonlyArray<string>, now: number) {
        yield* sql`SELECT id FROM users WHERE id = ANY(${userIds}::uuid[]) ORDER BY id FOR UPDATE`
        const users = yield* subjects(userIds)
        for (const id of userIds) {
          const user = users.get(id)
          if (user !== undefined) yield* reconcileUser(id, user.slice, Option.some(user), now)
          else yield* cancelUser(id, now)
        }
      },
      sql.withTransaction
    )

    /**
     * `tzdata recompute` of one slice: every user with a pending row computed under another tzdata
     * release is recomputed once, walking user ids upwards in batches, so a row the recompute cannot
     * rewrite is passed over instead of found again forever. Returns the users recomputed and the
     * stale rows left (logged by the caller).
     */
    const recomputeStaleTzdata = Effect.fn("OccurrenceLedger.recomputeStaleTzdata")(
      function*(slice: number, tzdata: string, now: number, batch: number) {
        let after = "00000000-0000-0000-0000-000000000000"
        let users = 0
        for (;;) {
          const rows = yield* sql<{ user_id: string }>`
            SELECT DISTINCT user_id FROM occurrences
            WHERE slice = ${slice} AND state = 'pending' AND (tzdata < ${tzdata} OR tzdata > ${tzdata})
              AND user_id > ${after}::uuid
            ORDER BY user_id LIMIT ${batch}`
          if (rows.length === 0) break
          const ids = rows.map((row) => row.user_id)
          yield* recomputeUsers(ids, now)
          users += ids.length
          after = ids[ids.length - 1]!
          if (rows.length < batch) break
        }
        const [left] = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM occurrences
          WHERE slice = ${slice} AND state = 'pending' AND (tzdata < ${tzdata} OR tzdata > ${tzdata})`
        return { users, left: left?.n ?? 0 }
      }
    )

    /** The latest occurrence of each kind of a live user, for the API. */
    const nextForUser = Effect.fn("OccurrenceLedger.nextForUser")(function*(userId: string) {
      return yield* sql<NextOccurrenceRow>`
        SELECT DISTINCT ON (o.kind) o.key, o.kind, o.year, o.local_date::text AS local_date,
               (extract(epoch FROM o.due_at) * 1000)::float8 AS due_ms, o.state, u.time_zone
        FROM occurrences o JOIN users u ON u.id = o.user_id
        WHERE o.user_id = ${userId} AND u.deleted_at IS NULL AND o.state <> 'cancelled'
        ORDER BY o.kind, o.year DESC`
    })

    return {
      insertPending,
      pendingStatement,
      storePending,
      apply,
      reconcileUser,
      cancelUser,
      notifyChange,
      notifyStatement,
      nextOpenDue,
      firstOccurrences,
      pendingInSlice,
      pendingForUsers,
      subjects,
      settle,
      recomputeUsers,
      recomputeStaleTzdata,
      nextForUser
    } as const
  }),
  dependencies: [Layer.orDie(OccasionSettings.layer)]
}) {}
