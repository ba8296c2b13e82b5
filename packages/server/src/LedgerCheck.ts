/**
 * The ledger's fsck (product.md §8, style rule 15): one read-only pass that lists every violated
 * invariant with a count and the first offending keys. `GET /ledger/check`, `birthday ledger check`
 * and every scenario test run this same module.
 */
import {
  LedgerCheckReport,
  LedgerViolation,
  ledgerViolationDescriptions,
  type LedgerViolationKind,
  LedgerViolationKind as ViolationKinds,
  LedgerViolationSample,
  OccasionSettings
} from "@birthday/domain"
import { SqlClient, type Statement } from "@effect/sql"
import { Clock, DateTime, Deferred, Duration, Effect, FiberId, Layer } from "effect"
import { type ChainRow, chainViolations } from "./LedgerChain.js"

/** Defaults of a check; `GET /ledger/check` overrides them per request. */
export const ledgerCheckDefaults = {
  sampleLimit: 20,
  deadlineGrace: Duration.minutes(5),
  sendingGrace: Duration.minutes(2),
  userBatch: 2_000
} as const

/** How one check is run. */
export interface LedgerCheckOptions {
  /** Offending rows listed per violation (the count is always the total). */
  readonly sampleLimit?: number
  /** An open occurrence past its deadline by more than this is stuck (slices expire late rows lazily). */
  readonly deadlineGrace?: Duration.DurationInput
  /** A `sending` row this far past its lease (or, without `lease_until`, its last update) is stuck. */
  readonly sendingGrace?: Duration.DurationInput
  /** Users read per query of the chain check. */
  readonly userBatch?: number
}

interface SampleRow {
  readonly total: number
  readonly key: string | null
  readonly user_id: string
  readonly kind: string | null
  readonly year: number | null
  readonly state: string | null
  readonly detail: string
}

interface UserRow {
  readonly id: string
  readonly birthday: string
  readonly anniversary: string | null
  readonly time_zone: string
}

interface OccurrenceRow {
  readonly key: string
  readonly kind: string
  readonly user_id: string
  readonly year: number
  readonly state: string
  readonly attempts: number
  readonly local_date: string
  readonly due_ms: number
}

/** Counts and bounded samples per violation kind. */
class Findings {
  readonly counts = new Map<LedgerViolationKind, number>()
  readonly samples = new Map<LedgerViolationKind, Array<LedgerViolationSample>>()
  constructor(readonly limit: number) {}

  add(kind: LedgerViolationKind, sample: LedgerViolationSample, count = 1): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + count)
    const list = this.samples.get(kind) ?? []
    if (list.length < this.limit) list.push(sample)
    this.samples.set(kind, list)
  }

  count(kind: LedgerViolationKind, total: number): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + total)
  }

  violations(): Array<LedgerViolation> {
    return ViolationKinds.literals.map((kind) =>
      LedgerViolation.make({
        kind,
        description: ledgerViolationDescriptions[kind],
        count: this.counts.get(kind) ?? 0,
        samples: this.samples.get(kind) ?? []
      })
    )
  }
}

/** The ledger invariant checker over the app's database. */
export class LedgerCheck extends Effect.Service<LedgerCheck>()("@birthday/server/LedgerCheck", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const kinds = yield* OccasionSettings

    const hasColumn = (table: string, column: string) =>
      Effect.map(
        sql<{ present: boolean }>`
          SELECT EXISTS (SELECT 1 FROM information_schema.columns
                         WHERE table_schema = current_schema() AND table_name = ${table}
                           AND column_name = ${column}) AS present`,
        (rows) => rows[0]?.present === true
      )

    /**
     * Runs a query selecting `key, user_id, kind, year, state, detail` of offending rows and adds
     * its total (a window count, so the sample limit does not cap it) and first rows.
     */
    const sqlViolation = (
      findings: Findings,
      kind: LedgerViolationKind,
      query: (limit: Statement.Fragment) => Statement.Statement<SampleRow>
    ) =>
      Effect.gen(function*() {
        const rows = yield* query(sql`LIMIT ${Math.max(findings.limit, 1)}`)
        if (rows.length === 0) return
        findings.count(kind, Number(rows[0]!.total))
        for (const row of rows.slice(0, findings.limit)) {
          const list = findings.samples.get(kind) ?? []
          list.push(LedgerViolationSample.make({
            key: row.key,
            userId: row.user_id,
            kind: row.kind,
            year: row.year,
            state: row.state,
            detail: row.detail
          }))
          findings.samples.set(kind, list)
        }
      })

    /** The chain invariants of every live user, a bounded batch of users per query. */
    const checkChains = (findings: Findings, now: number, batch: number) =>
      Effect.gen(function*() {
        let after = "00000000-0000-0000-0000-000000000000"
        let users = 0
        for (;;) {
          const page = yield* sql<UserRow>`
            SELECT id::text AS id, birthday::text AS birthday, anniversary::text AS anniversary, time_zone
            FROM users WHERE deleted_at IS NULL AND id > ${after}::uuid ORDER BY id LIMIT ${batch}`
          if (page.length === 0) return users
          users += page.length
          after = page[page.length - 1]!.id
          const rows = yield* sql<OccurrenceRow>`
            SELECT key, kind, user_id::text AS user_id, year, state, attempts, local_date::text AS local_date,
                   round(extract(epoch FROM due_at) * 1000)::float8 AS due_ms
            FROM occurrences WHERE user_id = ANY(${page.map((user) => user.id)}::uuid[])`
          const byUser = new Map<string, Array<ChainRow>>()
          for (const row of rows) {
            const list = byUser.get(row.user_id) ?? []
            list.push({
              key: row.key,
              kind: row.kind,
              year: row.year,
              state: row.state,
              attempts: row.attempts,
              localDate: row.local_date,
              dueMs: Number(row.due_ms)
            })
            byUser.set(row.user_id, list)
          }
          for (const user of page) {
            const subject = {
              id: user.id,
              birthday: user.birthday,
              anniversary: user.anniversary,
              timeZone: user.time_zone
            }
            for (const found of chainViolations(kinds, subject, byUser.get(user.id) ?? [], now)) {
              findings.add(
                found.violation,
                LedgerViolationSample.make({
                  key: found.key,
                  userId: user.id,
                  kind: found.kind,
                  year: found.year,
                  state: found.state,
                  detail: found.detail
                })
              )
            }
          }
          if (page.length < batch) return users
        }
      })

    const columns = sql`o.key, o.user_id::text AS user_id, o.kind, o.year, o.state`

    /** The row-level invariants, one query each. */
    const checkRows = (
      findings: Findings,
      now: Date,
      deadlineGraceMs: number,
      sendingGraceMs: number,
      lease: boolean
    ) =>
      Effect.gen(function*() {
        const deadlineBefore = new Date(now.getTime() - deadlineGraceMs)
        yield* sqlViolation(findings, "deleted_user_open", (limit) =>
          sql<SampleRow>`
            SELECT count(*) OVER () AS total, ${columns}, 'user deleted at ' || u.deleted_at::text AS detail
            FROM occurrences o JOIN users u ON u.id = o.user_id
            WHERE u.deleted_at IS NOT NULL AND o.state IN ('pending', 'enqueued', 'sending', 'retrying')
            ORDER BY o.key ${limit}`)
        yield* sqlViolation(findings, "past_deadline_open", (limit) =>
          sql<SampleRow>`
            SELECT count(*) OVER () AS total, ${columns}, 'deadline ' || o.deadline_at::text AS detail
            FROM occurrences o
            WHERE o.state IN ('pending', 'enqueued', 'retrying') AND o.deadline_at < ${deadlineBefore}
            ORDER BY o.deadline_at, o.key ${limit}`)
        // Lease expiry is judged on database time, as the ledger judges it; updated_at is app time.
        // A `sending` row without a lease (written before leases existed) is judged by its last update.
        const byUpdate = sql`o.updated_at < ${new Date(now.getTime() - sendingGraceMs)}`
        const stale = lease
          ? sql`(o.lease_until < now() - make_interval(secs => ${sendingGraceMs / 1000})
              OR (o.lease_until IS NULL AND ${byUpdate}))`
          : byUpdate
        const since = lease
          ? sql`COALESCE('lease until ' || o.lease_until::text, 'last updated ' || o.updated_at::text)`
          : sql`'last updated ' || o.updated_at::text`
        yield* sqlViolation(findings, "sending_past_lease", (limit) =>
          sql<SampleRow>`
            SELECT count(*) OVER () AS total, ${columns}, ${since} AS detail
            FROM occurrences o WHERE o.state = 'sending' AND ${stale}
            ORDER BY o.updated_at, o.key ${limit}`)
        yield* sqlViolation(findings, "dead_without_error", (limit) =>
          sql<SampleRow>`
            SELECT count(*) OVER () AS total, ${columns}, 'attempts ' || o.attempts AS detail
            FROM occurrences o WHERE o.state = 'dead' AND coalesce(o.last_error, '') = ''
            ORDER BY o.key ${limit}`)
        yield* sqlViolation(findings, "duplicate_year", (limit) =>
          sql<SampleRow>`
            SELECT count(*) OVER () AS total, min(o.key) AS key, o.user_id::text AS user_id, o.kind, o.year,
                   NULL AS state, count(*) || ' occurrences: ' || string_agg(o.key || ' ' || o.state, ', ') AS detail
            FROM occurrences o GROUP BY o.user_id, o.kind, o.year HAVING count(*) > 1
            ORDER BY o.user_id, o.kind, o.year ${limit}`)
        yield* sqlViolation(findings, "sent_outside_window", (limit) =>
          sql<SampleRow>`
            SELECT count(*) OVER () AS total, ${columns},
                   'sent ' || coalesce(o.sent_at::text, 'at no recorded time') || ', due ' || o.due_at::text
                     || ', deadline ' || o.deadline_at::text AS detail
            FROM occurrences o
            WHERE o.state = 'sent' AND (o.sent_at IS NULL OR o.sent_at < o.due_at OR o.sent_at > o.deadline_at)
            ORDER BY o.key ${limit}`)
        const [history] = yield* sql<{ present: boolean }>`
          SELECT to_regclass('delivery_attempts') IS NOT NULL AS present`
        if (history?.present) {
          yield* sqlViolation(findings, "sent_twice", (limit) =>
            sql<SampleRow>`
              SELECT count(*) OVER () AS total, a.key, o.user_id::text AS user_id, o.kind, o.year, o.state,
                     count(*) || ' attempts recorded sent' AS detail
              FROM delivery_attempts a LEFT JOIN occurrences o ON o.key = a.key
              WHERE a.outcome = 'sent' GROUP BY a.key, o.user_id, o.kind, o.year, o.state HAVING count(*) > 1
              ORDER BY a.key ${limit}`)
        }
      })

    /** One check of the whole ledger, in one read-only snapshot so a live system gives no torn reads. */
    const runOnce = Effect.fn("LedgerCheck.run")(function*(options: LedgerCheckOptions) {
      const limit = options.sampleLimit ?? ledgerCheckDefaults.sampleLimit
      const deadlineGraceMs = Duration.toMillis(options.deadlineGrace ?? ledgerCheckDefaults.deadlineGrace)
      const sendingGraceMs = Duration.toMillis(options.sendingGrace ?? ledgerCheckDefaults.sendingGrace)
      const nowMs = yield* Clock.currentTimeMillis
      const findings = new Findings(limit)
      const { lease, occurrences, users } = yield* Effect.gen(function*() {
        yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`
        const lease = yield* hasColumn("occurrences", "lease_until")
        const users = yield* checkChains(findings, nowMs, options.userBatch ?? ledgerCheckDefaults.userBatch)
        yield* checkRows(findings, new Date(nowMs), deadlineGraceMs, sendingGraceMs, lease)
        const [total] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM occurrences`
        return { lease, users, occurrences: total?.n ?? 0 }
      }).pipe(sql.withTransaction)
      const violations = findings.violations()
      const violationCount = violations.reduce((sum, violation) => sum + violation.count, 0)
      return LedgerCheckReport.make({
        checkedAt: DateTime.unsafeMake(nowMs),
        clean: violationCount === 0,
        violationCount,
        users,
        occurrences,
        deadlineGraceSeconds: deadlineGraceMs / 1000,
        sendingGraceSeconds: sendingGraceMs / 1000,
        leaseColumn: lease,
        violations
      })
    }, Effect.orDie)

    // A check reads the whole ledger (seconds at 150,000 users) on one pooled connection. Callers
    // of the same check share the one running; different checks run one at a time. So any number
    // of `GET /ledger/check` requests hold at most one of the pool's connections, and integrators'
    // requests keep the rest (a break-it review drained the pool with 25 concurrent checks: every
    // read answered 500 for want of a connection). A check runs to its end even when its callers
    // have gone (read-only, and each statement is bounded by the statement timeout).
    const oneAtATime = yield* Effect.makeSemaphore(1)
    const running = new Map<string, Deferred.Deferred<LedgerCheckReport>>()
    const run = (options: LedgerCheckOptions = {}) =>
      Effect.suspend(() => {
        const id = JSON.stringify([
          options.sampleLimit ?? ledgerCheckDefaults.sampleLimit,
          Duration.toMillis(options.deadlineGrace ?? ledgerCheckDefaults.deadlineGrace),
          Duration.toMillis(options.sendingGrace ?? ledgerCheckDefaults.sendingGrace),
          options.userBatch ?? ledgerCheckDefaults.userBatch
        ])
        const joined = running.get(id)
        if (joined !== undefined) return Deferred.await(joined)
        const done = Deferred.unsafeMake<LedgerCheckReport>(FiberId.none)
        running.set(id, done)
        return runOnce(options).pipe(
          oneAtATime.withPermits(1),
          Effect.exit,
          Effect.flatMap((exit) => Deferred.done(done, exit)),
          Effect.ensuring(Effect.sync(() => running.delete(id))),
          Effect.forkDaemon,
          Effect.zipRight(Deferred.await(done))
        )
      })

    return { run } as const
  }),
  dependencies: [Layer.orDie(OccasionSettings.layer)]
}) {}
