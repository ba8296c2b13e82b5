/**
 * Real Postgres and NATS for the scheduler tests: a database and a stream prefix of their own per
 * run (dropped and deleted afterwards), users and pending occurrences seeded directly, and runners
 * started as separate `node` processes (so SIGKILL really kills one).
 */
import { natsNames, sliceOf, tzdataVersion } from "@birthday/domain"
import { MigrationsLive, pgLayer } from "@birthday/ledger/Database"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted } from "effect"
import { AckPolicy, connect, DeliverPolicy } from "nats"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { freePort } from "../../../server/test/support/TestServer.js"

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres"
const natsUrl = "nats://127.0.0.1:4222"
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))

/** Names of one test run. */
export interface SchedulerRun {
  readonly databaseName: string
  readonly databaseUrl: string
  readonly streamPrefix: string
  readonly slices: number
}

const admin = (text: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(text)
  }).pipe(Effect.provide(pgLayer(Redacted.make(adminUrl), { maxConnections: 1 })), Effect.orDie)

const deleteStreams = (prefix: string) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: natsUrl })
    const jsm = await nc.jetstreamManager()
    const names = natsNames(prefix)
    for (const stream of [names.deliveryStream, names.deadLetterStream, names.advisoryStream]) {
      await jsm.streams.delete(stream).catch(() => false)
    }
    await nc.close()
  })

/** A fresh database (migrated) and stream prefix; dropped and deleted when the scope closes. */
export const schedulerRun = (slices = 64) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const id = randomBytes(4).toString("hex")
      const run: SchedulerRun = {
        databaseName: `birthday_test_sched_${id}`,
        databaseUrl: `postgres://postgres@127.0.0.1:5432/birthday_test_sched_${id}`,
        streamPrefix: `tsch${id}`,
        slices
      }
      yield* Effect.scoped(Layer.build(MigrationsLive.pipe(Layer.provide(pgLayer(Redacted.make(run.databaseUrl))))))
      return run
    }),
    (run) =>
      Effect.gen(function*() {
        yield* deleteStreams(run.streamPrefix)
        yield* admin(`DROP DATABASE IF EXISTS "${run.databaseName}" WITH (FORCE)`)
      })
  )

/** A SqlClient on the run's database. */
export const sqlLayer = (run: SchedulerRun) =>
  MigrationsLive.pipe(Layer.provideMerge(pgLayer(Redacted.make(run.databaseUrl), { maxConnections: 4 })))

/** Inserts one live user (born on the due date, in UTC) and one pending birthday occurrence per due instant. */
export const seedPending = (run: SchedulerRun, dueTimes: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const keys: Array<string> = []
    for (let offset = 0; offset < dueTimes.length; offset += 2000) {
      const batch = dueTimes.slice(offset, offset + 2000)
      const ids = batch.map(() => randomUUID())
      const slices = ids.map((id) => sliceOf(id, run.slices))
      const dates = batch.map((due) => new Date(due).toISOString().slice(0, 10))
      const years = batch.map((due) => new Date(due).getUTCFullYear())
      const batchKeys = ids.map((id, i) => `birthday:${id}:${years[i]}`)
      keys.push(...batchKeys)
      yield* sql`
        INSERT INTO users (id, first_name, last_name, email, birthday, time_zone, slice, created_at, updated_at)
        SELECT id, 'Test', 'User', 'u-' || id || '@example.com', ('2000' || substr(d, 5))::date, 'UTC', s, now(), now()
        FROM unnest(${ids}::uuid[], ${dates}::text[], ${slices}::int[]) AS t(id, d, s)`
      yield* sql`
        INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
                                 created_at, updated_at)
        SELECT k, 'birthday', id, y, s, d::date, to_timestamp(due / 1000.0),
               to_timestamp(due / 1000.0) + interval '48 hours', 'pending', ${tzdataVersion}, now(), now()
        FROM unnest(${batchKeys}::text[], ${ids}::uuid[], ${years}::int[], ${slices}::int[], ${dates}::text[],
                    ${batch as Array<number>}::float8[]) AS t(k, id, y, s, d, due)`
    }
    return keys
  })

/** How many occurrences are in each state. */
export const stateCounts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<
    { state: string; n: number }
  >`SELECT state, count(*)::int AS n FROM occurrences GROUP BY state`
  return Object.fromEntries(rows.map((row) => [row.state, row.n])) as Record<string, number>
})

/** A runner process. */
export interface RunnerProcess {
  readonly address: string
  readonly child: ChildProcess
  readonly output: () => string
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

/** Starts `packages/runner/src/main.ts` as its own node process; it is killed when the scope closes. */
export const startRunner = (run: SchedulerRun, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const port = yield* freePort
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", "packages/runner/src/main.ts"], {
          cwd: repoRoot,
          stdio: ["ignore", "pipe", "pipe"],
          env: {
            ...process.env,
            DATABASE_URL: run.databaseUrl,
            NATS_URL: natsUrl,
            NATS_STREAM_PREFIX: run.streamPrefix,
            SLICES: String(run.slices),
            RUNNER_HOST: "127.0.0.1",
            RUNNER_PORT: String(port),
            // Scheduler only: these runs read the stream themselves, so no worker may consume it.
            DELIVERY_WORKERS: "false",
            // Nothing claims what these runs read, so the ledger's sweeper (which republishes rows
            // left enqueued for two ack waits) is kept out of the window the tests count messages in.
            DELIVERY_ACK_WAIT: "10 minutes",
            RUNNER_METRICS_PORT: "0",
            LOG_LEVEL: "WARN",
            ...env
          }
        })
      ),
      (child) => child.exitCode === null && child.signalCode === null ? killChild(child, "SIGKILL") : Effect.void
    )
    child.stdout!.on("data", (chunk) => (output += String(chunk)))
    child.stderr!.on("data", (chunk) => (output += String(chunk)))
    const handle: RunnerProcess = {
      address: `127.0.0.1:${port}`,
      child,
      output: () => output,
      kill: (signal) => killChild(child, signal)
    }
    return handle
  })

const killChild = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill(signal)
  })

/**
 * Starts `count` runners one after another, each once the previous ones hold slices (concurrent
 * first starts on a fresh database race on the cluster's own `CREATE TABLE IF NOT EXISTS`).
 */
export const startRunners = (run: SchedulerRun, count: number, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const runners: Array<RunnerProcess> = []
    for (let i = 0; i < count; i++) {
      const runner = yield* startRunner(run, env)
      runners.push(runner)
      yield* waitUntil(
        `runner ${i + 1} holds slices`,
        Effect.map(ownership, (o) => (o[runner.address] ?? 0) > 0 && Object.keys(o).length === i + 1),
        60_000
      ).pipe(
        Effect.provide(sqlLayer(run)),
        Effect.tapErrorCause(() => Effect.sync(() => console.error(runner.output())))
      )
    }
    return runners
  })

/** Slices per runner address, as the slices record it. */
export const ownership = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ runner: string; n: number }>`
    SELECT runner, count(*)::int AS n FROM slice_ownership WHERE runner IS NOT NULL GROUP BY runner`
  return Object.fromEntries(rows.map((row) => [row.runner, row.n])) as Record<string, number>
})

/** Polls `check` every 250 ms until it returns true, failing after `timeoutMs`. */
export const waitUntil = <E, R>(label: string, check: Effect.Effect<boolean, E, R>, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (yield* check) return
      if (Date.now() > deadline) return yield* Effect.dieMessage(`Timed out waiting for: ${label}`)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 250)))
    }
  })

/** A message read back from the delivery stream. */
export interface StreamMessage {
  readonly seq: number
  readonly msgId: string
  readonly slice: number
  readonly dueAt: number
}

/** Every message in the run's delivery stream, in stream order (read with a throwaway consumer). */
export const streamMessages = (run: SchedulerRun) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: natsUrl })
    try {
      const jsm = await nc.jetstreamManager()
      const names = natsNames(run.streamPrefix)
      const total = (await jsm.streams.info(names.deliveryStream)).state.messages
      const durable = `reader-${randomBytes(3).toString("hex")}`
      await jsm.consumers.add(names.deliveryStream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All
      })
      const consumer = await nc.jetstream().consumers.get(names.deliveryStream, durable)
      const out: Array<StreamMessage> = []
      // An empty fetch on a busy machine is not the end: give up only after several in a row.
      for (let empty = 0; out.length < total && empty < 10;) {
        const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 })
        let got = 0
        for await (const message of batch) {
          const body = message.json<{ userId: string; dueAt: string }>()
          out.push({
            seq: message.seq,
            msgId: message.headers?.get("Nats-Msg-Id") ?? "",
            slice: sliceOf(body.userId, run.slices),
            dueAt: Date.parse(body.dueAt)
          })
          message.ack()
          got++
        }
        empty = got === 0 ? empty + 1 : 0
      }
      await jsm.consumers.delete(names.deliveryStream, durable).catch(() => false)
      return out.sort((a, b) => a.seq - b.seq)
    } finally {
      await nc.close()
    }
  })
