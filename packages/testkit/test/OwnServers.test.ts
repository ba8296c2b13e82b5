import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { connect, RetentionPolicy } from "nats"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import pg from "pg"
import { startProcess } from "../src/ManagedProcess.js"
import { ownNats } from "../src/TestNats.js"
import { machineDatabase, ownPostgres } from "../src/TestPostgres.js"
import { scratchDirectory, waitFor } from "../src/Workspace.js"

const queryOnce = (url: string, text: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
    client.on("error", () => undefined)
    try {
      await client.connect()
      return (await client.query(text)).rows as Array<Record<string, unknown>>
    } finally {
      await client.end().catch(() => undefined)
    }
  })

const reachable = (url: string) =>
  Effect.promise(() =>
    new Promise<boolean>((resolve) => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500, query_timeout: 1_500 })
      client.on("error", () => undefined)
      client.connect().then(
        () => client.query("SELECT 1").then(() => resolve(true), () => resolve(false)).finally(() => client.end()),
        () => resolve(false)
      )
    })
  )

describe("servers of a scenario's own", () => {
  it.scopedLive(
    "an embedded Postgres survives stop and start with its data; frozen it answers nothing",
    () =>
      Effect.gen(function*() {
        const dir = yield* scratchDirectory("pg-test")
        const { database, server } = yield* ownPostgres("pgtest", dir)
        yield* queryOnce(database.url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        yield* server.stop
        expect(server.running()).toBe(false)
        expect(yield* reachable(database.url)).toBe(false)
        yield* server.start
        expect(yield* queryOnce(database.url, "SELECT n FROM kept")).toEqual([{ n: 42 }])
        yield* server.freeze
        expect(yield* reachable(database.url)).toBe(false)
        yield* server.thaw
        expect(yield* reachable(database.url)).toBe(true)
      }),
    120_000
  )

  it.scopedLive("a database on the machine's Postgres is dropped when its scope closes", () =>
    Effect.gen(function*() {
      const name = yield* Effect.scoped(Effect.gen(function*() {
        const database = yield* machineDatabase("dbtest")
        expect(yield* queryOnce(database.url, "SELECT current_database() AS db")).toEqual([{ db: database.name }])
        return database.name
      }))
      const rows = yield* queryOnce(
        "postgres://postgres@127.0.0.1:5432/postgres",
        `SELECT datname FROM pg_database WHERE datname = '${name}'`
      )
      expect(rows).toEqual([])
    }))

  it.scopedLive("an own nats-server restarts on the same port and keeps its JetStream store", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDirectory("nats-test")
      const nats = yield* ownNats(dir, dir)
      const stream = "KITTEST"
      const publish = Effect.promise(async () => {
        const nc = await connect({ servers: nats.url })
        const jsm = await nc.jetstreamManager()
        await jsm.streams.add({ name: stream, subjects: ["kit.>"], retention: RetentionPolicy.Limits })
        await nc.jetstream().publish("kit.a", new TextEncoder().encode("one"))
        await nc.close()
      })
      const messages = Effect.promise(async () => {
        const nc = await connect({ servers: nats.url })
        const info = await (await nc.jetstreamManager()).streams.info(stream)
        await nc.close()
        return info.state.messages
      })
      yield* publish
      yield* nats.stop
      expect(nats.process.running()).toBe(false)
      yield* nats.start
      expect(yield* messages).toBe(1)
    }))

  it.scopedLive("a managed process logs each start to its file, freezes, thaws and restarts", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDirectory("proc-test")
      const proc = yield* startProcess({
        name: "ticker",
        command: process.execPath,
        args: ["-e", "console.log('up', process.env.WHO); setInterval(() => {}, 1000)"],
        env: { WHO: "first" },
        logDir: dir
      })
      const logged = (text: string) =>
        waitFor(`"${text}" in the log`, Effect.sync(() => proc.tail()), (log) => log.includes(text), {
          timeoutMs: 30_000
        })
      yield* logged("up first")
      const firstPid = proc.pid()
      yield* proc.freeze
      yield* proc.thaw
      expect(proc.running()).toBe(true)
      yield* proc.restart({ WHO: "second" })
      yield* logged("up second")
      expect(proc.pid()).not.toBe(firstPid)
      const exit = yield* proc.terminate(5_000)
      expect(exit.signal).toBe("SIGTERM")
      const log = readFileSync(join(dir, "ticker.log"), "utf8")
      expect(log).toContain("up first")
      expect(log).toContain("up second")
      expect(log).toContain("start #2")
      expect(existsSync(proc.logFile)).toBe(true)
    }))
})
