/**
 * What every scenario asserts at its end (product.md §8): the ledger check, and what the provider
 * really received, read from the simulator's message list and raw request log:
 * - at most one acknowledged send per key (a repeat the simulator answered `duplicate` is a second
 *   send a real provider, which documents no idempotency key, would deliver);
 * - nothing acknowledged before its dueAt or after its deadline, and no unknown key;
 * - every occurrence due before `settledBefore` of a live user is settled (sent, or recorded dead,
 *   expired, ambiguous or cancelled), the ledger's `sent` agrees with the provider's log;
 * plus lateness (acknowledged − dueAt) p50/p99.
 */
import { type LedgerCheckReport, OccasionSettings } from "@birthday/domain"
import { EmailSimAdmin } from "@birthday/email-sim"
import { LedgerCheck, type LedgerCheckOptions } from "@birthday/server/LedgerCheck"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import type { TestSystem } from "./TestSystem.js"

/** A category of finding: its total and the first few. */
export interface Finding<A> {
  readonly count: number
  readonly samples: ReadonlyArray<A>
}

/** Lateness of acknowledged sends against their dueAt, in ms. */
export interface Lateness {
  readonly samples: number
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  readonly maxMs: number | null
}

/** What the simulator's log says against the ledger. */
export interface ProviderFindings {
  readonly acknowledged: number
  readonly acknowledgedTwice: Finding<{ readonly key: string; readonly times: number }>
  /** Acknowledged again only because the runner that sent it first was killed before recording it. */
  readonly resentAfterCrash: Finding<{ readonly key: string; readonly times: number; readonly crashed: string }>
  readonly beforeDue: Finding<{ readonly key: string; readonly receivedAt: number; readonly dueAt: number }>
  readonly afterDeadline: Finding<{ readonly key: string; readonly receivedAt: number; readonly deadlineAt: number }>
  readonly unknownKeys: Finding<string>
  readonly dueNotSettled: Finding<{ readonly key: string; readonly state: string; readonly dueAt: number }>
  readonly sentNotAcknowledged: Finding<string>
  /** Acknowledged by the provider, not `sent` in the ledger (ambiguous ones excepted from `clean`). */
  readonly acknowledgedNotSent: Finding<{ readonly key: string; readonly state: string }>
}

/** The structured result of `checkInvariants`. */
export interface InvariantReport {
  readonly clean: boolean
  readonly ledger: LedgerCheckReport
  readonly provider: ProviderFindings
  readonly lateness: Lateness
  /** One line per violated category; empty when clean. */
  readonly problems: ReadonlyArray<string>
}

/** How to check. */
export interface InvariantOptions extends LedgerCheckOptions {
  /** Occurrences due before this instant (epoch ms) must be settled; default: now. */
  readonly settledBefore?: number
  /** Samples kept per provider finding (default 20). */
  readonly providerSamples?: number
  /**
   * Runners the scenario killed (SIGKILL, power-off) and when. A request of theirs that was in
   * flight when they died has no recorded outcome: per product.md §3 (a timeout after the request
   * was sent is ambiguous; default policy: retry with the same key) it is resent under its
   * `Idempotency-Key`, which the provider may acknowledge again. Such keys are reported as
   * `resentAfterCrash`, not `acknowledgedTwice`; every other repeat still is a violation.
   */
  readonly crashes?: ReadonlyArray<Crash>
}

/** Within this long after a kill a request of the killed runner may still arrive (loopback, loaded machine). */
const crashArrivalSlackMs = 1_000

/** A runner a scenario killed (or cut off), and when. */
export interface Crash {
  readonly runnerId: string
  readonly at: number
}

/** A key the provider acknowledged more than once; `crashed` names the runners that explain it, if they do. */
export interface RepeatedAcknowledgement {
  readonly key: string
  readonly times: number
  readonly crashed: string | undefined
}

/**
 * Every key the provider's request log shows acknowledged (answered 2xx) more than once. A repeat
 * is explained by `crashes` only when every acknowledgement but the last came from a runner (named
 * in its `User-Agent`) that was killed before it could record the outcome: arrived before the kill.
 */
export const repeatedAcknowledgements = (
  log: ReadonlyArray<{
    readonly key: string | null
    readonly outcome: string
    readonly at: number
    readonly sender?: string | null
  }>,
  crashes: ReadonlyArray<Crash>
): Array<RepeatedAcknowledgement> => {
  const answered = new Map<string, Array<{ at: number; sender: string | null }>>()
  for (const entry of log) {
    if (entry.key === null || (entry.outcome !== "acknowledged" && entry.outcome !== "duplicate")) continue
    const list = answered.get(entry.key) ?? []
    list.push({ at: entry.at, sender: entry.sender ?? null })
    answered.set(entry.key, list)
  }
  const crashOf = (answer: { at: number; sender: string | null }) =>
    crashes.find((crash) =>
      answer.sender !== null && answer.sender.includes(`(${crash.runnerId})`) &&
      answer.at <= crash.at + crashArrivalSlackMs
    )
  const repeats: Array<RepeatedAcknowledgement> = []
  for (const [key, answers] of answered) {
    if (answers.length < 2) continue
    const explained = [...answers].sort((a, b) => a.at - b.at).slice(0, -1).map(crashOf)
    const crashed = explained.every((crash) => crash !== undefined)
      ? explained.map((crash) => crash!.runnerId).join(",")
      : undefined
    repeats.push({ key, times: answers.length, crashed })
  }
  return repeats
}

interface LedgerRow {
  readonly key: string
  readonly state: string
  readonly due_ms: number
  readonly deadline_ms: number
  readonly deleted: boolean
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

/** Lateness summary of a list of (acknowledged − due) ms. */
export const latenessOf = (values: ReadonlyArray<number>): Lateness => {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    samples: sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length === 0 ? null : sorted[sorted.length - 1]!
  }
}

const collector = <A>(limit: number) => {
  let count = 0
  const samples: Array<A> = []
  return {
    add: (sample: A) => {
      count++
      if (samples.length < limit) samples.push(sample)
    },
    done: (): Finding<A> => ({ count, samples })
  }
}

/** Runs the ledger check on the system's database, with the occasion settings its processes got. */
/** `birthday ledger check` on any database, with the settings of `env` (the processes' environment). */
export const ledgerCheckAt = (databaseUrl: string, env: Record<string, string>, options: LedgerCheckOptions = {}) =>
  Effect.flatMap(LedgerCheck, (check) => check.run(options)).pipe(
    Effect.provide(
      LedgerCheck.DefaultWithoutDependencies.pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(databaseUrl), maxConnections: 2 })),
        Layer.provide(
          Layer.orDie(OccasionSettings.layer).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ ...env })))
          )
        ),
        Layer.orDie
      )
    )
  )

/** `birthday ledger check` on a test system's database. */
export const ledgerCheck = (system: TestSystem, options: LedgerCheckOptions = {}) =>
  ledgerCheckAt(system.database.url, system.env, options)

/** The ledger check and the provider-log checks; see the module comment. */
export const checkInvariants = (system: TestSystem, options: InvariantOptions = {}) =>
  Effect.gen(function*() {
    const limit = options.providerSamples ?? 20
    const settledBefore = options.settledBefore ?? Date.now()
    const ledger = yield* ledgerCheck(system, options)
    const messages = yield* EmailSimAdmin.allMessages(system.simulatorUrl).pipe(Effect.orDie)
    const log = yield* EmailSimAdmin.allLog(system.simulatorUrl).pipe(Effect.orDie)
    const rows = yield* system.query<LedgerRow>(`
      SELECT o.key, o.state, (extract(epoch FROM o.due_at) * 1000)::float8 AS due_ms,
             (extract(epoch FROM o.deadline_at) * 1000)::float8 AS deadline_ms, u.deleted_at IS NOT NULL AS deleted
      FROM occurrences o LEFT JOIN users u ON u.id = o.user_id`)
    const byKey = new Map(rows.map((row) => [row.key, row]))

    const twice = collector<{ key: string; times: number }>(limit)
    const resentAfterCrash = collector<{ key: string; times: number; crashed: string }>(limit)
    for (const repeat of repeatedAcknowledgements(log, options.crashes ?? [])) {
      if (repeat.crashed !== undefined) resentAfterCrash.add({ ...repeat, crashed: repeat.crashed })
      else twice.add({ key: repeat.key, times: repeat.times })
    }

    const beforeDue = collector<{ key: string; receivedAt: number; dueAt: number }>(limit)
    const afterDeadline = collector<{ key: string; receivedAt: number; deadlineAt: number }>(limit)
    const unknown = collector<string>(limit)
    const notSent = collector<{ key: string; state: string }>(limit)
    let notSentUnexplained = 0
    const late: Array<number> = []
    const acknowledgedKeys = new Set<string>()
    for (const message of messages) {
      if (message.key === null) {
        unknown.add(`(no Idempotency-Key) to ${message.email}`)
        continue
      }
      acknowledgedKeys.add(message.key)
      const row = byKey.get(message.key)
      if (row === undefined) {
        unknown.add(message.key)
        continue
      }
      late.push(message.receivedAt - row.due_ms)
      if (message.receivedAt < row.due_ms) {
        beforeDue.add({ key: message.key, receivedAt: message.receivedAt, dueAt: row.due_ms })
      }
      if (message.receivedAt > row.deadline_ms) {
        afterDeadline.add({ key: message.key, receivedAt: message.receivedAt, deadlineAt: row.deadline_ms })
      }
      if (row.state !== "sent") {
        notSent.add({ key: message.key, state: row.state })
        if (row.state !== "ambiguous") notSentUnexplained++
      }
    }
    const dueNotSettled = collector<{ key: string; state: string; dueAt: number }>(limit)
    const sentNotAcknowledged = collector<string>(limit)
    const open = new Set(["pending", "enqueued", "sending", "retrying"])
    for (const row of rows) {
      if (row.state === "sent" && !acknowledgedKeys.has(row.key)) sentNotAcknowledged.add(row.key)
      if (!row.deleted && open.has(row.state) && row.due_ms < settledBefore) {
        dueNotSettled.add({ key: row.key, state: row.state, dueAt: row.due_ms })
      }
    }

    const provider: ProviderFindings = {
      acknowledged: messages.length,
      acknowledgedTwice: twice.done(),
      resentAfterCrash: resentAfterCrash.done(),
      beforeDue: beforeDue.done(),
      afterDeadline: afterDeadline.done(),
      unknownKeys: unknown.done(),
      dueNotSettled: dueNotSettled.done(),
      sentNotAcknowledged: sentNotAcknowledged.done(),
      acknowledgedNotSent: notSent.done()
    }
    const problems: Array<string> = []
    for (const violation of ledger.violations) {
      if (violation.count > 0) {
        problems.push(
          `ledger ${violation.kind}: ${violation.count} (e.g. ${
            violation.samples[0]?.key ?? violation.samples[0]?.userId
          })`
        )
      }
    }
    const providerProblems: Array<[string, Finding<unknown>, number]> = [
      ["acknowledged twice", provider.acknowledgedTwice, provider.acknowledgedTwice.count],
      ["acknowledged before dueAt", provider.beforeDue, provider.beforeDue.count],
      ["acknowledged after deadline", provider.afterDeadline, provider.afterDeadline.count],
      ["acknowledged with an unknown key", provider.unknownKeys, provider.unknownKeys.count],
      ["due and not settled", provider.dueNotSettled, provider.dueNotSettled.count],
      ["sent in the ledger, never acknowledged", provider.sentNotAcknowledged, provider.sentNotAcknowledged.count],
      ["acknowledged, not sent in the ledger", provider.acknowledgedNotSent, notSentUnexplained]
    ]
    for (const [name, finding, count] of providerProblems) {
      if (count > 0) problems.push(`provider ${name}: ${count} (e.g. ${JSON.stringify(finding.samples[0])})`)
    }
    const report: InvariantReport = {
      clean: problems.length === 0,
      ledger,
      provider,
      lateness: latenessOf(late),
      problems
    }
    return report
  })

/** A few lines for a scenario's output: the problems, counts and lateness. */
export const formatReport = (report: InvariantReport): string =>
  [
    `invariants: ${report.clean ? "clean" : `${report.problems.length} violated`}; ` +
    `${report.provider.acknowledged} acknowledged; ledger ${report.ledger.users} users, ${report.ledger.occurrences} occurrences`,
    `lateness: p50 ${report.lateness.p50Ms} ms, p99 ${report.lateness.p99Ms} ms, max ${report.lateness.maxMs} ms over ${report.lateness.samples}`,
    ...(report.provider.resentAfterCrash.count > 0
      ? [`resent after a crash (in flight on a killed runner): ${report.provider.resentAfterCrash.count}`]
      : []),
    ...report.problems.map((problem) => `  - ${problem}`)
  ].join("\n")
