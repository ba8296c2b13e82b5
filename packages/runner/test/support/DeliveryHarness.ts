/**
 * Real Postgres, NATS and simulator for the delivery tests: a database and a stream prefix of
 * their own per run (dropped and deleted afterwards), ledger rows seeded directly and commands
 * published directly, so nothing here depends on the scheduler.
 */
import { DeliveryCommand, natsNames } from "@birthday/domain"
import { EmailSimAdmin, EmailSimulator } from "@birthday/email-sim"
import { MigrationsLive, pgLayer } from "@birthday/ledger/Database"
import { HttpTraceContext } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Context, DateTime, Effect, Layer, Redacted, Schedule } from "effect"
import { headers as natsHeaders } from "nats"
import { spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { type DeliveryConfig, DeliverySettings } from "../../src/DeliveryConfig.js"
import { DeliveryWorkersLive } from "../../src/DeliveryLive.js"
import { DeliveryStreamsLive } from "../../src/DeliveryStreams.js"
import { Nats } from "../../src/Nats.js"
import { commandPayload } from "../../src/TraceHeaders.js"

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres"

const admin = (text: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text)).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })),
    Effect.orDie
  )

/** Names of one test run. */
export interface TestRun {
  readonly databaseName: string
  readonly databaseUrl: string
  readonly streamPrefix: string
  /** Environment for a child worker process. */
  readonly env: Record<string, string>
}

/** A fresh database name and stream prefix; the database is dropped and the streams deleted on close. */
export const testRun = Effect.acquireRelease(
  Effect.sync((): TestRun => {
    const id = randomBytes(4).toString("hex")
    const databaseName = `birthday_test_delivery_${id}`
    const databaseUrl = `postgres://postgres@127.0.0.1:5432/${databaseName}`
    const streamPrefix = `tdlv${id}`
    return {
      databaseName,
      databaseUrl,
      streamPrefix,
      env: { DATABASE_URL: databaseUrl, NATS_STREAM_PREFIX: streamPrefix, NATS_URL: "nats://127.0.0.1:4222" }
    }
  }),
  (run) =>
    Effect.gen(function*() {
      yield* Effect.promise(async () => {
        const { connect } = await import("nats")
        const nc = await connect({ servers: "nats://127.0.0.1:4222" })
        const jsm = await nc.jetstreamManager()
        const names = natsNames(run.streamPrefix)
        for (const stream of [names.deliveryStream, names.deadLetterStream, names.advisoryStream]) {
          await jsm.streams.delete(stream).catch(() => false)
        }
        await nc.close()
      })
      yield* admin(`DROP DATABASE IF EXISTS "${run.databaseName}" WITH (FORCE)`)
    })
)

/** Postgres (migrated) and NATS (streams created) for a run, configured through a ConfigProvider, not process.env. */
export const infraLayer = (run: TestRun) =>
  Layer.mergeAll(
    DeliveryStreamsLive.pipe(Layer.provideMerge(Nats.layer)),
    MigrationsLive.pipe(Layer.provideMerge(pgLayer(Redacted.make(run.databaseUrl))))
  ).pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
      NATS_STREAM_PREFIX: run.streamPrefix,
      NATS_URL: "nats://127.0.0.1:4222"
    })))
  )

/** Fast settings for tests: short timeouts and backoffs, metrics on a free port. */
export const testSettings = (baseUrl: string, overrides: Partial<DeliveryConfig> = {}) =>
  DeliverySettings.layerWith({
    emailServiceUrl: baseUrl,
    requestTimeout: "2 seconds" as never,
    retryBase: "50 millis" as never,
    retryCap: "500 millis" as never,
    breakerOpenBase: "300 millis" as never,
    breakerOpenMax: "1 second" as never,
    ackWait: "5 seconds" as never,
    providerRateLimit: 0,
    metricsPort: 0,
    ...overrides
  })

/** The delivery workers with test settings. */
export const workersLayer = (baseUrl: string, overrides: Partial<DeliveryConfig> = {}) =>
  DeliveryWorkersLive.pipe(Layer.provide(testSettings(baseUrl, overrides)))

/** A ledger row to seed. */
export interface Seeded {
  readonly key: string
  readonly userId: string
  readonly kind: "birthday" | "anniversary"
  readonly email: string
  /** Its due time, which its command carries. */
  readonly dueAt?: Date
}

/** Inserts `count` users with an `enqueued` birthday occurrence each, due `dueAgoMs` before now. */
export const seedOccurrences = (count: number, options: { readonly dueAgoMs?: number; readonly year?: number } = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = new Date(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
    const due = new Date(now.getTime() - (options.dueAgoMs ?? 0))
    const deadline = new Date(due.getTime() + 48 * 3600_000)
    const year = options.year ?? 2026
    const seeded: Array<Seeded> = []
    for (let offset = 0; offset < count; offset += 2000) {
      const ids = Array.from({ length: Math.min(2000, count - offset) }, () => randomUUID())
      const emails = ids.map((id) => `u-${id}@example.com`)
      yield* sql`
        INSERT INTO users (id, first_name, last_name, email, birthday, time_zone, slice, created_at, updated_at)
        SELECT id, 'Ada', 'Lovelace ' || left(id::text, 4), email, '1990-04-17', 'Europe/London', 0, ${now}, ${now}
        FROM unnest(${ids}::uuid[], ${emails}::text[]) AS t(id, email)`
      yield* sql`
        INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
          enqueued_at, created_at, updated_at)
        SELECT 'birthday:' || id || ':' || ${year}, 'birthday', id, ${year}, 0, '2026-04-17', ${due}, ${deadline},
          'enqueued', 'test', ${now}, ${now}, ${now}
        FROM unnest(${ids}::uuid[]) AS t(id)`
      ids.forEach((id, i) =>
        seeded.push({ key: `birthday:${id}:${year}`, userId: id, kind: "birthday", email: emails[i]!, dueAt: due })
      )
    }
    return seeded
  })

/** The command for a seeded occurrence. */
export const commandOf = (row: Seeded, dueAt: Date = row.dueAt ?? new Date()) =>
  DeliveryCommand.make({
    key: row.key,
    kind: row.kind,
    userId: row.userId,
    year: 2026,
    dueAt: DateTime.unsafeFromDate(dueAt),
    deadlineAt: DateTime.unsafeFromDate(new Date(dueAt.getTime() + 48 * 3600_000))
  })

/** Publishes the commands of `rows` (pipelined), with `Nats-Msg-Id` = key unless `msgId` says otherwise. */
export const publishAll = (rows: ReadonlyArray<Seeded>, msgId: (row: Seeded) => string = (row) => row.key) =>
  Effect.gen(function*() {
    const { jetstream, names } = yield* Nats
    yield* Effect.forEach(
      rows,
      // Under a producer span whose context travels in the headers, as the runner publishes.
      (row) =>
        Effect.gen(function*() {
          const headers = natsHeaders()
          for (const [name, value] of Object.entries(HttpTraceContext.toHeaders(yield* Effect.currentSpan))) {
            headers.set(name, value)
          }
          yield* Effect.tryPromise(() =>
            jetstream.publish(names.deliverySubject(row.kind), commandPayload(commandOf(row)), {
              msgID: msgId(row),
              headers
            })
          )
        }).pipe(Effect.withSpan("DeliveryHarness.publish", { kind: "producer" })),
      { concurrency: 256, discard: true }
    )
  })

/** Ledger states by count. */
export const stateCounts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<
    { state: string; count: string }
  >`SELECT state, count(*) AS count FROM occurrences GROUP BY state`
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.count)])) as Record<string, number>
})

/**
 * Keys the provider answered more than once (acknowledged, or refused as a duplicate) without the
 * one reason product.md §3 allows: an earlier attempt recorded `ambiguous` (sent, no answer in
 * time), retried under the same key. On a loaded machine an in-process simulator can miss the
 * request timeout; a lease, fencing or consumer fault shows up here as a key with no such attempt.
 */
export const unexplainedRepeats = (baseUrl: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const answered = new Map<string, number>()
    for (const entry of yield* EmailSimAdmin.allLog(baseUrl)) {
      if (entry.key === null || (entry.outcome !== "acknowledged" && entry.outcome !== "duplicate")) continue
      answered.set(entry.key, (answered.get(entry.key) ?? 0) + 1)
    }
    const repeated = [...answered].filter(([, times]) => times > 1).map(([key]) => key)
    if (repeated.length === 0) return []
    const explained = new Set(
      (yield* sql<{ key: string }>`
        SELECT DISTINCT key FROM delivery_attempts WHERE key = ANY(${repeated}) AND outcome = 'ambiguous'`)
        .map((row) => row.key)
    )
    return repeated.filter((key) => !explained.has(key))
  })

/** Polls `read` until `done` holds for its value, or dies after `timeoutMs` showing the last value. */
export const eventually = <A, E, R>(
  read: Effect.Effect<A, E, R>,
  done: (value: A) => boolean,
  timeoutMs: number
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    let last: A | undefined
    while (Date.now() < deadline) {
      last = yield* read
      if (done(last)) return last
      yield* Effect.sleep("200 millis")
    }
    return yield* Effect.dieMessage(`timed out after ${timeoutMs} ms; last value: ${JSON.stringify(last)}`)
  })

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))

/** A free port on loopback. */
export const freePort = Effect.async<number>((resume) => {
  const probe = createServer()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    probe.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

/** Starts a TypeScript entry point of this repo as a child process (stopped with SIGTERM on close). */
export const childProcess = (entry: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      spawn(process.execPath, ["--import", "tsx", entry, ...args], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdio: ["ignore", "inherit", "inherit"]
      })
    ),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )

/**
 * The simulator as its own process (`pnpm email-sim`), so its event loop is not the workers':
 * `flags` as on its command line. Returns its base URL once it answers.
 */
export const simulatorProcess = (flags: Record<string, string | number> = {}) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const args = Object.entries({ seed: 7, ...flags, port }).flatMap(([name, value]) => [`--${name}`, String(value)])
    yield* childProcess("packages/email-sim/src/main.ts", args, { LOG_LEVEL: "Warning" })
    const baseUrl = `http://127.0.0.1:${port}`
    yield* EmailSimAdmin.stats(baseUrl).pipe(
      // tsx compiles it at start: on a loaded two-core CI box that alone has taken over 30 s.
      Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("120 seconds"))),
      Effect.orDie
    )
    return baseUrl
  })

/** Runs `body` with a fresh database, streams, simulator (with `faults`) and running workers. */
export const withDelivery = <A, E>(
  body: (baseUrl: string, run: TestRun) => Effect.Effect<A, E, SqlClient.SqlClient | Nats>,
  options: {
    readonly faults?: Parameters<typeof simulatorLayer>[0]
    /** Run the simulator as its own process with these flags instead of in this process. */
    readonly simulatorFlags?: Record<string, string | number>
    readonly settings?: Partial<DeliveryConfig>
  } = {}
) =>
  Effect.gen(function*() {
    const run = yield* testRun
    const infra = yield* Layer.build(infraLayer(run))
    const baseUrl = options.simulatorFlags === undefined
      ? Context.get(yield* Layer.build(simulatorLayer(options.faults)), EmailSimulator.EmailSimulator).baseUrl
      : yield* simulatorProcess(options.simulatorFlags)
    yield* Layer.build(workersLayer(baseUrl, options.settings).pipe(Layer.provide(Layer.succeedContext(infra))))
    return yield* body(baseUrl, run).pipe(Effect.provide(infra))
  }).pipe(Effect.scoped)

/** Starts an in-process simulator on a free port. */
export const simulatorLayer = (faults: Parameters<typeof EmailSimulator.layer>[0] = {}) =>
  EmailSimulator.layer({ port: 0, seed: 7, ...faults })
