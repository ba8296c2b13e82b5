/**
 * The `pnpm bench scheduler` suite, against local Postgres and NATS, each part on a database and
 * stream prefix of its own (dropped afterwards):
 *  1. time to schedule N users (default 1,000,000): users stored, occurrences computed by the
 *     calendar and stored with multi-row `unnest` inserts;
 *  2. RSS of a runner holding those N users' occurrences resident (horizon of a year), against an
 *     idle runner, as bytes per resident occurrence;
 *  3. enqueue rate and lateness (JetStream publish time − dueAt, p50/p99) when M occurrences
 *     (default 100,000) fall due at one instant;
 *  4. crash fail-over: two runners, one SIGKILLed; time until the survivor holds all its slices;
 *  5. lateness in steady state: R occurrences (default 1,000) due at each whole second for S seconds
 *     (default 60), below the enqueue rate part 3 measures.
 * It lives in this package so that it resolves the package's dependencies.
 */
import { natsNames, nextOccurrence, OccasionSettings, type Occurrence, sliceOf, tzdataVersion } from "@birthday/domain"
import { MigrationsLive, pgLayer } from "@birthday/ledger/Database"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { timeOrderedUuids } from "@birthday/server/TimeOrderedUuid"
import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Config, Effect, Layer, Redacted } from "effect"
import { AckPolicy, connect, DeliverPolicy } from "nats"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

const BenchConfig = Config.all({
  users: Config.integer("SCHEDULER_BENCH_USERS").pipe(Config.withDefault(1_000_000)),
  burst: Config.integer("SCHEDULER_BENCH_BURST").pipe(Config.withDefault(100_000)),
  steadyRate: Config.integer("SCHEDULER_BENCH_STEADY_RATE").pipe(Config.withDefault(1_000)),
  steadySeconds: Config.integer("SCHEDULER_BENCH_STEADY_SECONDS").pipe(Config.withDefault(60)),
  adminUrl: Config.string("SCHEDULER_BENCH_ADMIN_URL").pipe(
    Config.withDefault("postgres://postgres@127.0.0.1:5432/postgres")
  ),
  natsUrl: Config.string("NATS_URL").pipe(Config.withDefault("nats://127.0.0.1:4222")),
  parts: Config.string("SCHEDULER_BENCH_PARTS").pipe(
    Config.withDefault("1,2,3,4,5"),
    Config.withDescription("Which parts to run: 1 schedule, 2 resident memory, 3 burst, 4 fail-over, 5 steady state")
  )
})
type BenchConfig = Config.Config.Success<typeof BenchConfig>

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))
const zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Melbourne", "America/Sao_Paulo"]
const slices = 256
const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

interface Run {
  readonly name: string
  readonly url: string
  readonly prefix: string
}

const withRun = <A, E, R>(config: BenchConfig, label: string, use: (run: Run) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.gen(function*() {
      const id = randomBytes(4).toString("hex")
      const base = new URL(config.adminUrl)
      base.pathname = `/birthday_bench_${label}_${id}`
      const run = { name: `birthday_bench_${label}_${id}`, url: base.toString(), prefix: `bench${label}${id}` }
      yield* Effect.scoped(Layer.build(MigrationsLive.pipe(Layer.provide(pgLayer(Redacted.make(run.url))))))
      return run
    }),
    use,
    (run) =>
      Effect.gen(function*() {
        yield* Effect.promise(async () => {
          const nc = await connect({ servers: config.natsUrl })
          const jsm = await nc.jetstreamManager()
          const names = natsNames(run.prefix)
          for (const stream of [names.deliveryStream, names.deadLetterStream, names.advisoryStream]) {
            await jsm.streams.delete(stream).catch(() => false)
          }
          await nc.close()
        })
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(`DROP DATABASE IF EXISTS "${run.name}" WITH (FORCE)`)
        }).pipe(Effect.provide(pgLayer(Redacted.make(config.adminUrl), { maxConnections: 1 })), Effect.ignore)
      })
  )

const sqlOn = (run: Run) =>
  OccurrenceLedger.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(OccasionSettings.layerWith()),
    Layer.provideMerge(pgLayer(Redacted.make(run.url), { maxConnections: 4 }))
  )

const randomDate = (i: number) => {
  const year = 1950 + (i % 55)
  const month = 1 + ((i * 7) % 12)
  const day = 1 + ((i * 13) % 28)
  return `${year}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`
}

/** Part 1: N users and their next occurrences, in batches of 10,000 (two in flight). */
const scheduleUsers = (count: number, now: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ledger = yield* OccurrenceLedger
    const kinds = yield* OccasionSettings
    const batch = 10_000
    let occurrences = 0
    yield* Effect.forEach(
      Array.from({ length: Math.ceil(count / batch) }, (_, b) => b),
      (b) =>
        Effect.gen(function*() {
          const size = Math.min(batch, count - b * batch)
          // Ids as the API makes them (time-ordered), so the bench writes the indexes the way production does.
          const ids = timeOrderedUuids(size, Date.now())
          const birthdays = ids.map((_, i) => randomDate(b * batch + i))
          const anniversaries = ids.map((_, i) => (i % 3 === 0 ? randomDate(b * batch + i + 5) : null))
          const timeZones = ids.map((_, i) => zones[(b * batch + i) % zones.length]!)
          const userSlices = ids.map((id) => sliceOf(id, slices))
          const items: Array<{ occurrence: Occurrence; slice: number }> = []
          ids.forEach((id, i) => {
            const subject = { id, timeZone: timeZones[i]!, birthday: birthdays[i]!, anniversary: anniversaries[i] }
            for (const kind of kinds.all) {
              const next = nextOccurrence(kind, subject, now)
              if (next._tag === "Some") items.push({ occurrence: next.value, slice: userSlices[i]! })
            }
          })
          yield* sql`
            INSERT INTO users (id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at,
                               updated_at)
            SELECT id, 'Bench', 'User', 'u-' || id || '@example.com', b::date, a::date, z, s, now(), now()
            FROM unnest(${ids}::uuid[], ${birthdays}::text[], ${anniversaries}::text[], ${timeZones}::text[],
                        ${userSlices}::int[]) AS t(id, b, a, z, s)`
          yield* ledger.storePending(items, now)
          occurrences += items.length
        }).pipe(sql.withTransaction),
      { concurrency: 2, discard: true }
    )
    return occurrences
  })

/** A port the OS says is free right now. */
const freePort = Effect.async<number>((resume) => {
  const probe = createServer()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    probe.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

/** A runner as its own process; killed when the scope closes. */
const startRunner = (config: BenchConfig, run: Run, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", "packages/runner/src/main.ts"], {
          cwd: repoRoot,
          stdio: ["ignore", "ignore", "inherit"],
          env: {
            ...process.env,
            DATABASE_URL: run.url,
            NATS_URL: config.natsUrl,
            NATS_STREAM_PREFIX: run.prefix,
            SLICES: String(slices),
            RUNNER_HOST: "127.0.0.1",
            RUNNER_PORT: String(port),
            // Scheduler only: these runs read the stream themselves, so no worker may consume it.
            DELIVERY_WORKERS: "false",
            RUNNER_METRICS_PORT: "0",
            LOG_LEVEL: "ERROR",
            ...env
          }
        })
      ),
      (child) => kill(child, "SIGKILL")
    )
    return { child, address: `127.0.0.1:${port}` }
  })

const kill = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill(signal)
  })

const rssBytes = (pid: number) => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match ? Number(match[1]) * 1024 : NaN
}

const ownershipBy = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{ runner: string; slices: number; resident: number }>`
    SELECT runner, count(*)::int AS slices, sum(resident)::int AS resident FROM slice_ownership
    WHERE runner IS NOT NULL GROUP BY runner`
})

const waitFor = <E, R>(check: Effect.Effect<boolean, E, R>, timeoutMs: number, label: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out: ${label}`)
      yield* sleep(200)
    }
  })

/** Part 2: RSS of a runner with everything resident, against an idle one. */
const residentMemory = (config: BenchConfig, run: Run, expected: number) =>
  Effect.gen(function*() {
    const idle = yield* withRun(config, "idle", (empty) =>
      Effect.scoped(Effect.gen(function*() {
        const runner = yield* startRunner(config, empty)
        yield* waitFor(
          Effect.map(ownershipBy, (rows) => rows.reduce((n, row) => n + row.slices, 0) === slices),
          120_000,
          "idle runner holds every slice"
        ).pipe(Effect.provide(sqlOn(empty)))
        yield* sleep(3000)
        return rssBytes(runner.child.pid!)
      })))
    return yield* Effect.scoped(Effect.gen(function*() {
      const started = Date.now()
      const runner = yield* startRunner(config, run, { SLICE_HORIZON: "400 days", SLICE_LOAD_BATCH: "5000" })
      yield* waitFor(
        Effect.map(ownershipBy, (rows) => rows.reduce((n, row) => n + row.resident, 0) >= expected),
        600_000,
        "runner loaded every occurrence"
      ).pipe(Effect.provide(sqlOn(run)))
      const loadSeconds = (Date.now() - started) / 1000
      yield* sleep(3000)
      const loaded = rssBytes(runner.child.pid!)
      return { idle, loaded, loadSeconds, perOccurrence: (loaded - idle) / expected }
    }))
  })

/**
 * Parts 3 and 5: `count` occurrences, the i-th due at `dueOf(i)` ms after a start far enough
 * ahead for the runner to boot and load everything (steady state, not catch-up); lateness is each
 * message's JetStream timestamp minus the `dueAt` it carries.
 */
const dueLoad = (config: BenchConfig, run: Run, count: number, dueOf: (index: number) => number) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const start = Math.ceil((Date.now() + 60_000) / 1000) * 1000
    for (let offset = 0; offset < count; offset += 10_000) {
      const size = Math.min(10_000, count - offset)
      const ids = timeOrderedUuids(size, Date.now())
      const userSlices = ids.map((id) => sliceOf(id, slices))
      const dues = ids.map((_, i) => start + dueOf(offset + i))
      yield* sql`
        INSERT INTO users (id, first_name, last_name, email, birthday, time_zone, slice, created_at, updated_at)
        SELECT id, 'Bench', 'User', 'u-' || id || '@example.com',
               ('2000' || to_char(to_timestamp(d / 1000.0) AT TIME ZONE 'UTC', '-MM-DD'))::date, 'UTC', s, now(), now()
        FROM unnest(${ids}::uuid[], ${userSlices}::int[], ${dues}::float8[]) AS t(id, s, d)`
      yield* sql`
        INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
                                 created_at, updated_at)
        SELECT 'birthday:' || id || ':' || extract(year FROM to_timestamp(d / 1000.0) AT TIME ZONE 'UTC')::int,
               'birthday', id, extract(year FROM to_timestamp(d / 1000.0) AT TIME ZONE 'UTC')::int, s,
               (to_timestamp(d / 1000.0) AT TIME ZONE 'UTC')::date, to_timestamp(d / 1000.0),
               to_timestamp(d / 1000.0) + interval '48 hours', 'pending', ${tzdataVersion}, now(), now()
        FROM unnest(${ids}::uuid[], ${userSlices}::int[], ${dues}::float8[]) AS t(id, s, d)`
    }
    const runner = yield* startRunner(config, run)
    yield* waitFor(
      Effect.map(ownershipBy, (rows) => rows.reduce((n, row) => n + row.resident, 0) >= count),
      Math.max(0, start - Date.now() - 1000),
      "runner loaded every occurrence before the first is due"
    )
    yield* waitFor(
      Effect.map(
        sql<{ n: number }>`SELECT count(*)::int AS n FROM occurrences WHERE state = 'enqueued'`,
        (rows) => rows[0]!.n >= count
      ),
      start - Date.now() + dueOf(count - 1) + 300_000,
      "everything enqueued"
    )
    const rss = rssBytes(runner.child.pid!)
    const stamps = yield* Effect.promise(() => publishTimes(config, run, count))
    const lateness = stamps.map(({ at, due }) => at - due).sort((a, b) => a - b)
    const pct = (p: number) => lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))]!
    const first = stamps.reduce((min, { at }) => Math.min(min, at), Infinity)
    const last = stamps.reduce((max, { at }) => Math.max(max, at), -Infinity)
    return {
      count: lateness.length,
      p50: pct(0.5),
      p99: pct(0.99),
      max: lateness[lateness.length - 1]!,
      rate: lateness.length / Math.max((last - first) / 1000, 0.001),
      rss
    }
  }))

const publishTimes = async (config: BenchConfig, run: Run, expected: number) => {
  const nc = await connect({ servers: config.natsUrl })
  try {
    const jsm = await nc.jetstreamManager()
    const stream = natsNames(run.prefix).deliveryStream
    await jsm.consumers.add(stream, {
      durable_name: "bench",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All
    })
    const consumer = await nc.jetstream().consumers.get(stream, "bench")
    const out: Array<{ at: number; due: number }> = []
    while (out.length < expected) {
      const batch = await consumer.fetch({ max_messages: 5000, expires: 2000 })
      let got = 0
      for await (const message of batch) {
        const command = message.json<{ dueAt: string }>()
        out.push({ at: message.info.timestampNanos / 1e6, due: Date.parse(command.dueAt) })
        message.ack()
        got++
      }
      if (got === 0) break
    }
    return out
  } finally {
    await nc.close()
  }
}

/** Part 4: two runners, SIGKILL one; seconds until the survivor holds every slice. */
const failover = (config: BenchConfig, run: Run) =>
  Effect.scoped(Effect.gen(function*() {
    const first = yield* startRunner(config, run)
    yield* waitFor(Effect.map(ownershipBy, (rows) => rows.length === 1 && rows[0]!.slices === slices), 120_000, "first")
    const second = yield* startRunner(config, run)
    yield* waitFor(
      Effect.map(ownershipBy, (rows) =>
        rows.length === 2 && rows.every((row) => row.slices > 0) &&
        rows.reduce((n, r) => n + r.slices, 0) === slices),
      120_000,
      "balanced"
    )
    yield* sleep(3000)
    const killedAt = Date.now()
    yield* kill(second.child, "SIGKILL")
    yield* waitFor(
      Effect.map(ownershipBy, (rows) => rows.some((row) => row.runner === first.address && row.slices === slices)),
      120_000,
      "survivor holds every slice"
    )
    return (Date.now() - killedAt) / 1000
  }))

/** Runs the four parts and prints their figures. */
export const runSchedulerBench = () =>
  Effect.gen(function*() {
    const config = yield* BenchConfig
    const now = Date.now()
    console.log(`scheduler bench: ${config.users.toLocaleString()} users, burst of ${config.burst.toLocaleString()}`)
    const parts = new Set(config.parts.split(",").map((part) => part.trim()))
    if (parts.has("1") || parts.has("2")) {
      yield* withRun(config, "sched", (run) =>
        Effect.gen(function*() {
          const started = Date.now()
          const occurrences = yield* scheduleUsers(config.users, now).pipe(Effect.provide(sqlOn(run)))
          const seconds = (Date.now() - started) / 1000
          console.log(
            `1. scheduled ${config.users.toLocaleString()} users (${occurrences.toLocaleString()} occurrences) in ${
              seconds.toFixed(1)
            } s (${Math.round(config.users / seconds).toLocaleString()} users/s; target < 60 s)`
          )
          if (!parts.has("2")) return
          const memory = yield* residentMemory(config, run, occurrences)
          console.log(
            `2. runner RSS idle ${
              (memory.idle / 2 ** 20).toFixed(0)
            } MiB, with ${occurrences.toLocaleString()} resident ${(memory.loaded / 2 ** 20).toFixed(0)} MiB → ${
              memory.perOccurrence.toFixed(0)
            } B per resident occurrence (target < 200 B); loaded in ${memory.loadSeconds.toFixed(1)} s`
          )
        }))
    }
    if (parts.has("3")) {
      yield* withRun(config, "burst", (run) =>
        Effect.gen(function*() {
          const result = yield* dueLoad(config, run, config.burst, () => 0).pipe(Effect.provide(sqlOn(run)))
          console.log(
            `3. ${result.count.toLocaleString()} due at one instant: enqueued at ${
              Math.round(result.rate).toLocaleString()
            }/s; lateness p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, max ${
              result.max.toFixed(0)
            } ms (target p99 < 1000 ms)`
          )
        }))
    }
    if (parts.has("5")) {
      yield* withRun(config, "steady", (run) =>
        Effect.gen(function*() {
          const count = config.steadyRate * config.steadySeconds
          // One instant per second, each with `steadyRate` occurrences due at once.
          const result = yield* dueLoad(config, run, count, (i) => Math.floor(i / config.steadyRate) * 1000).pipe(
            Effect.provide(sqlOn(run))
          )
          console.log(
            `5. steady state, ${config.steadyRate.toLocaleString()} due at each whole second for ${config.steadySeconds} s (${result.count.toLocaleString()} in all): lateness p50 ${
              result.p50.toFixed(0)
            } ms, p99 ${result.p99.toFixed(0)} ms, max ${result.max.toFixed(0)} ms (target p99 < 1000 ms)`
          )
        }))
    }
    if (parts.has("4")) {
      yield* withRun(config, "failover", (run) =>
        Effect.gen(function*() {
          const seconds = yield* failover(config, run).pipe(Effect.provide(sqlOn(run)))
          console.log(
            `4. crash fail-over (SIGKILL, SHARD_LOCK_EXPIRATION default): survivor held every slice after ${
              seconds.toFixed(1)
            } s (target < 10 s)`
          )
        }))
    }
  })

/** Entry point of `pnpm bench scheduler`. */
export const mainSchedulerBench = (): void => NodeRuntime.runMain(runSchedulerBench())
