/**
 * What the multi-host scenarios share: a cluster of runners on separate network hosts
 * (packages/testkit/src/hosts), greetings seeded straight into its ledger, and readings of who
 * holds what (advisory locks per host, slice ownership) and of what the provider received.
 */
import { EmailSimAdmin } from "@birthday/email-sim"
import { MigrationsLive, pgLayer } from "@birthday/ledger/Database"
import { occurrenceChangesChannel } from "@birthday/ledger/OccurrenceLedger"
import { ClusterInspector } from "@birthday/server/ClusterInspector"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import pg from "pg"
import { expect } from "vitest"
import type { LabHost } from "../../../testkit/src/hosts/HostLab.js"
import { MultiHostCluster, type RunnerOnHost } from "../../../testkit/src/hosts/MultiHostCluster.js"
import { sleep, waitFor } from "../../../testkit/src/hosts/Shell.js"
import { ledgerCheckAt, repeatedAcknowledgements } from "../../../testkit/src/Invariants.js"
import { seedPending } from "../support/SchedulerHarness.js"

/** `HOSTS_SHORT=1` (CI): shorter partitions and smaller loads; the figures say which form ran. */
export const short = process.env.HOSTS_SHORT === "1"

/**
 * For scenarios that measure no fail-over (a graceful hand-off, clock skew): a longer lock
 * expiration, so that a 2-core machine at load ~30 does not make healthy runners drop their shards
 * (a refresh slower than a third of the expiration counts as lost storage).
 */
export const tolerant = { SHARD_LOCK_EXPIRATION: "15 seconds" } as const

export interface Scenario {
  readonly cluster: MultiHostCluster
  readonly db: pg.Pool
  readonly close: () => Promise<void>
}

/** A cluster of `hosts` empty hosts with its database migrated. */
export const openScenario = async (hosts: number, slices = 64): Promise<Scenario> => {
  const cluster = await MultiHostCluster.create({ hosts, slices })
  try {
    await Effect.runPromise(
      Effect.scoped(Layer.build(MigrationsLive.pipe(Layer.provide(pgLayer(Redacted.make(cluster.databaseUrl))))))
    )
  } catch (error) {
    cluster.destroy()
    throw error
  }
  const db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 4 })
  db.on("error", () => undefined)
  return {
    cluster,
    db,
    close: async () => {
      await db.end().catch(() => undefined)
      cluster.destroy()
    }
  }
}

/**
 * Pending birthday greetings due at `dueTimes`, written straight into the ledger, and the change
 * notices the API sends for greetings due within the horizon (so running slices load them);
 * returns their keys.
 */
export const seedGreetings = async (scenario: Scenario, dueTimes: ReadonlyArray<number>) => {
  const keys = await Effect.runPromise(
    seedPending({
      databaseName: scenario.cluster.database,
      databaseUrl: scenario.cluster.databaseUrl,
      streamPrefix: scenario.cluster.streamPrefix,
      slices: scenario.cluster.slices
    }, dueTimes).pipe(Effect.provide(pgLayer(Redacted.make(scenario.cluster.databaseUrl), { maxConnections: 2 })))
  )
  await scenario.db.query(
    `SELECT pg_notify($1, slice || ':' || user_id) FROM occurrences WHERE key = ANY($2::text[])`,
    [occurrenceChangesChannel, keys]
  )
  return keys
}

/** What `birthday cluster status` (and the server's readiness) report, read by the server's own module. */
export const clusterStatus = (scenario: Scenario) =>
  Effect.runPromise(
    Effect.flatMap(ClusterInspector, (inspector) => inspector.status).pipe(
      Effect.provide(ClusterInspector.Default),
      Effect.provide(pgLayer(Redacted.make(scenario.cluster.databaseUrl), { maxConnections: 1 })),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SLICES", String(scenario.cluster.slices)]])))
    )
  )

/** Slices per runner address, as `slice_ownership` records them. */
export const slicesByRunner = async (db: pg.Pool): Promise<Record<string, Array<number>>> => {
  const { rows } = await db.query<{ runner: string; slices: Array<number> }>(
    `SELECT runner, array_agg(slice ORDER BY slice) AS slices FROM slice_ownership
     WHERE runner IS NOT NULL GROUP BY runner`
  )
  return Object.fromEntries(rows.map((row) => [row.runner, row.slices]))
}

/** Advisory locks (the cluster's shard locks) held per client address. */
export const locksByHost = async (db: pg.Pool): Promise<Record<string, number>> => {
  const { rows } = await db.query<{ address: string; n: number }>(
    `SELECT host(a.client_addr) AS address, count(*)::int AS n
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted GROUP BY 1`
  )
  return Object.fromEntries(rows.map((row) => [row.address, row.n]))
}

/** Starts a runner on each host, one after another, each once it holds slices. */
export const startRunners = async (
  scenario: Scenario,
  hosts: ReadonlyArray<LabHost>,
  env: Record<string, string> = {}
) => {
  const started: Array<RunnerOnHost> = []
  for (const host of hosts) {
    const runner = scenario.cluster.startRunner(host, env)
    started.push(runner)
    await waitForOwners(scenario, started)
  }
  return started
}

/** Waits until exactly `runners` hold slices and every slice is held. */
export const waitForOwners = (scenario: Scenario, runners: ReadonlyArray<RunnerOnHost>, timeoutMs = 240_000) =>
  waitFor(
    `slices held by ${runners.map((runner) => runner.address).join(", ")}`,
    async () => {
      for (const runner of runners) {
        if (!runner.process.running) throw new Error(`runner ${runner.address} exited:\n${runner.process.output()}`)
      }
      const owners = await slicesByRunner(scenario.db).catch(() => ({}))
      const held = Object.values(owners).reduce((sum, slices) => sum + slices.length, 0)
      return held === scenario.cluster.slices && Object.keys(owners).length === runners.length &&
        runners.every((runner) => (owners as Record<string, Array<number>>)[runner.address] !== undefined)
    },
    timeoutMs,
    250
  ).catch((error) => {
    throw new Error(`${String(error)}\n${scenario.cluster.runnerOutput().slice(-8000)}`)
  })

/** One acknowledged message as the simulator's `GET /messages` returns it. */
export interface ProviderMessage {
  readonly key: string | null
  readonly receivedAt: number
  readonly attempts: number
}

/** Every message the simulator acknowledged. */
export const providerMessages = async (scenario: Scenario): Promise<Array<ProviderMessage>> => {
  const out: Array<ProviderMessage> = []
  let after = 0
  for (;;) {
    const response = await fetch(`${scenario.cluster.simulator.url}/messages?after=${after}&limit=100000`)
    const page = await response.json() as { messages: Array<ProviderMessage>; next: number | null }
    out.push(...page.messages)
    if (page.next === null) return out
    after = page.next
  }
}

/** The seeded occurrences per state (next years' rows, created as each year settles, left out). */
export const stateCounts = async (db: pg.Pool, keys: ReadonlyArray<string>): Promise<Record<string, number>> => {
  const { rows } = await db.query<{ state: string; n: number }>(
    "SELECT state, count(*)::int AS n FROM occurrences WHERE key = ANY($1::text[]) GROUP BY state",
    [keys]
  )
  return Object.fromEntries(rows.map((row) => [row.state, row.n]))
}

/** What the provider and the ledger say about the seeded greetings. */
export interface GreetingOutcome {
  readonly seeded: number
  /** Seeded keys the provider never acknowledged. */
  readonly missing: Array<string>
  /** Keys acknowledged more than once (the simulator's ledger: one message per key, so 0 by its index). */
  readonly duplicated: Array<string>
  /** Keys acknowledged before their due time. */
  readonly early: Array<string>
  /** Keys the provider saw more than one request for (resent after a lost claim), with the count. */
  readonly resent: number
  /** Milliseconds from due to acknowledgement, of every acknowledged key. */
  readonly lateness: Array<number>
  readonly latenessByKey: ReadonlyMap<string, number>
  readonly states: Record<string, number>
}

export const greetingOutcome = async (
  scenario: Scenario,
  keys: ReadonlyArray<string>,
  dueOf: (key: string) => number
): Promise<GreetingOutcome> => {
  const messages = await providerMessages(scenario)
  const byKey = new Map<string, Array<ProviderMessage>>()
  for (const message of messages) {
    if (message.key === null) continue
    byKey.set(message.key, [...(byKey.get(message.key) ?? []), message])
  }
  const missing: Array<string> = []
  const duplicated: Array<string> = []
  const early: Array<string> = []
  const lateness: Array<number> = []
  const latenessByKey = new Map<string, number>()
  let resent = 0
  for (const key of keys) {
    const received = byKey.get(key)
    if (received === undefined) {
      missing.push(key)
      continue
    }
    if (received.length > 1) duplicated.push(key)
    const first = received[0]!
    if (first.attempts > 1) resent++
    if (first.receivedAt < dueOf(key)) early.push(key)
    lateness.push(first.receivedAt - dueOf(key))
    latenessByKey.set(key, first.receivedAt - dueOf(key))
  }
  return {
    seeded: keys.length,
    missing,
    duplicated,
    early,
    resent,
    lateness,
    latenessByKey,
    states: await stateCounts(scenario.db, keys)
  }
}

/** State, attempts and last error of `keys` (at most 20), for failure messages. */
export const describeKeys = async (db: pg.Pool, keys: ReadonlyArray<string>): Promise<string> => {
  const { rows } = await db.query(
    `SELECT key, state, attempts, last_error, slice, due_at, enqueued_at, updated_at FROM occurrences
     WHERE key = ANY($1::text[]) ORDER BY key LIMIT 20`,
    [keys]
  )
  return JSON.stringify(rows, null, 1)
}

/** A runner's `GET /health/ready` (status code and body), or the error reaching it. */
export const readinessOf = async (runner: RunnerOnHost): Promise<{ status: number; body: unknown } | string> => {
  try {
    const response = await fetch(`${runner.operationsUrl}/health/ready`, { signal: AbortSignal.timeout(3_000) })
    return { status: response.status, body: await response.json() }
  } catch (error) {
    return String(error)
  }
}

/**
 * A runner's readiness asked from inside its own host (curl in its namespace): reachable while
 * the host's link to everything else is cut.
 */
export const readinessFromItsHost = (runner: RunnerOnHost): { status: number; body: unknown } | string => {
  try {
    const out = execFileSync("ip", [
      "netns",
      "exec",
      runner.host.namespace,
      "curl",
      "-s",
      "-m",
      "5",
      "-w",
      "\\n%{http_code}",
      `${runner.operationsUrl}/health/ready`
    ], { encoding: "utf8" })
    const lines = out.trimEnd().split("\n")
    const status = Number(lines.pop())
    return { status, body: JSON.parse(lines.join("\n")) }
  } catch (error) {
    return String(error)
  }
}

/** How a lost host's work moved: each figure in ms (the fired ones relative to the burst's due time). */
export interface Failover {
  readonly locksFreed: number
  readonly ownedElsewhere: number
  /** The lost host's share of the burst. */
  readonly share: number
  readonly firstFired: number
  readonly lastFired: number
}

/**
 * Waits for a lost host's work to move and measures it from `cut`: its advisory locks released by
 * Postgres, every slice held by `survivors`, `birthday cluster status` showing the lost runner
 * owning nothing and no slice unowned, and its share of the burst due at `burstDue` fired elsewhere.
 */
export const measureFailover = async (
  scenario: Scenario,
  options: {
    readonly lost: RunnerOnHost
    readonly survivors: ReadonlyArray<RunnerOnHost>
    readonly lostSlices: ReadonlyArray<number>
    readonly cut: number
    readonly burstDue: number
  }
): Promise<Failover> => {
  const { burstDue, cut, lost, lostSlices, survivors } = options
  const db = scenario.db
  const locksFreed = await timeUntil("the lost host's advisory locks are released", cut, async () => {
    const locks = await locksByHost(db)
    return (locks[lost.host.address] ?? 0) === 0
  }, 60_000)
  const ownedElsewhere = await timeUntil("every slice is held by the surviving hosts", cut, async () => {
    const owners = await slicesByRunner(db)
    const held = survivors.reduce((sum, runner) => sum + (owners[runner.address]?.length ?? 0), 0)
    return held === scenario.cluster.slices
  }, 60_000)
  const status = await clusterStatus(scenario)
  expect(status.unownedSlices).toEqual([])
  expect(status.runners.find((runner) => runner.address === lost.address)?.slices ?? []).toEqual([])
  const lostShare = async () => {
    const { rows: [row] } = await db.query<{ first_ms: string; last_ms: string; n: number; fired: number }>(
      `SELECT EXTRACT(EPOCH FROM min(enqueued_at)) * 1000 AS first_ms,
              EXTRACT(EPOCH FROM max(enqueued_at)) * 1000 AS last_ms, count(*)::int AS n,
              count(*) FILTER (WHERE state <> 'pending')::int AS fired
       FROM occurrences WHERE slice = ANY($1::int[]) AND due_at = to_timestamp($2 / 1000.0)`,
      [lostSlices, burstDue]
    )
    return row!
  }
  await timeUntil("the lost host's share of the burst fired elsewhere", cut, async () => {
    const share = await lostShare()
    return share.fired === share.n
  }, 60_000)
  const share = await lostShare()
  return {
    locksFreed,
    ownedElsewhere,
    share: share.n,
    firstFired: Number(share.first_ms) - burstDue,
    lastFired: Number(share.last_ms) - burstDue
  }
}

/** Prints what a failed scenario left behind: states, the first missing keys, the runners' output. */
export const diagnose = async (scenario: Scenario, keys: ReadonlyArray<string>, dueOf: (key: string) => number) => {
  const outcome = await greetingOutcome(scenario, keys, dueOf).catch(() => undefined)
  const runners = await scenario.db.query(
    "SELECT address, healthy, last_heartbeat, now()::timestamp AS db_now FROM cluster_runners"
  ).then((result) => JSON.stringify(result.rows), String)
  const readiness = await Promise.all(scenario.cluster.runners.map((runner) => readinessOf(runner)))
  console.error(
    `[hosts] failed; cluster_runners ${runners}; readiness ${JSON.stringify(readiness)}; owners ${
      JSON.stringify(await slicesByRunner(scenario.db).catch(String))
    }\nstates ${JSON.stringify(outcome?.states)}, ${outcome?.missing.length} missing:\n` +
      (outcome ? await describeKeys(scenario.db, outcome.missing).catch(String) : "") +
      `\n${scenario.cluster.runnerOutput().slice(-6000)}`
  )
}

/** The greetings a scenario seeded, with their due times. */
export class Seeded {
  keys: Array<string> = []
  readonly dueByKey = new Map<string, number>()
  readonly dueOf = (key: string) => this.dueByKey.get(key)!

  /** Seeds greetings due at `dues` into `scenario` and remembers them. */
  async seed(scenario: Scenario, dues: ReadonlyArray<number>): Promise<Array<string>> {
    const keys = await seedGreetings(scenario, dues)
    keys.forEach((key, i) => this.dueByKey.set(key, dues[i]!))
    this.keys.push(...keys)
    return keys
  }
}

/**
 * Runs `body` on a fresh cluster of `hosts` hosts; on failure prints what it left behind
 * (`diagnose`), and always removes the lab.
 */
export const withScenario = async (hosts: number, body: (scenario: Scenario, seeded: Seeded) => Promise<void>) => {
  const scenario = await openScenario(hosts)
  const seeded = new Seeded()
  try {
    await body(scenario, seeded)
  } catch (error) {
    await diagnose(scenario, seeded.keys, seeded.dueOf)
    throw error
  } finally {
    await scenario.close()
  }
}

/** Waits until every seeded greeting is acknowledged and `sent`; returns ms since `since` and the outcome. */
export const allSent = async (scenario: Scenario, seeded: Seeded, since: number, timeoutMs: number) => {
  const took = await timeUntil("every greeting is acknowledged", since, async () => {
    const outcome = await greetingOutcome(scenario, seeded.keys, seeded.dueOf)
    return outcome.missing.length === 0 && outcome.states.sent === seeded.keys.length
  }, timeoutMs)
  return { took, outcome: await greetingOutcome(scenario, seeded.keys, seeded.dueOf) }
}

/** A runner a scenario cut off or powered off, and when: its requests in flight then have no recorded outcome. */
export interface HostFault {
  readonly host: LabHost
  readonly at: number
}

/**
 * The invariants at a scenario's end, from the provider's request log and `birthday ledger check`:
 * no key acknowledged twice except a request in flight on a host at its fault, resent under its
 * `Idempotency-Key` (product.md §3: an unanswered request is ambiguous, default policy retry),
 * and no ledger violation. Returns how many keys were resent that way.
 */
export const expectInvariants = async (scenario: Scenario, faults: ReadonlyArray<HostFault> = []) => {
  const log = await Effect.runPromise(EmailSimAdmin.allLog(scenario.cluster.simulator.url))
  const repeats = repeatedAcknowledgements(
    log,
    faults.map((fault) => ({ runnerId: `host-${fault.host.index}`, at: fault.at }))
  )
  const twice = repeats.filter((repeat) => repeat.crashed === undefined).map((repeat) => repeat.key)
  const resentAfterFault = repeats.length - twice.length
  expect(twice, "keys acknowledged twice").toEqual([])
  const report = await Effect.runPromise(ledgerCheckAt(scenario.cluster.databaseUrl, {}))
  expect(
    report.violations.filter((violation) => violation.count > 0).map((violation) =>
      `${violation.kind}: ${violation.count} (e.g. ${violation.samples[0]?.key ?? violation.samples[0]?.userId}: ${
        violation.samples[0]?.detail
      })`
    ),
    "birthday ledger check"
  ).toEqual([])
  return { resentAfterFault }
}

/** The scenarios' end state: every greeting acknowledged once, none early, every one `sent`. */
export const expectEachSentOnce = (outcome: GreetingOutcome) => {
  expect(outcome.missing).toEqual([])
  expect(outcome.duplicated).toEqual([])
  expect(outcome.early).toEqual([])
  expect(outcome.states).toEqual({ sent: outcome.seeded })
}

/** The `p` quantile (0..1) of `values`, nearest rank. */
export const quantile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/** Seconds with one decimal, for the figures printed by each scenario. */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Polls until `check` holds and returns how long that took from `since` (ms), or fails after `timeoutMs`. */
export const timeUntil = async (
  label: string,
  since: number,
  check: () => Promise<boolean>,
  timeoutMs: number
): Promise<number> => {
  await waitFor(label, () => check().catch(() => false), timeoutMs, 200)
  return Date.now() - since
}

export { sleep }
