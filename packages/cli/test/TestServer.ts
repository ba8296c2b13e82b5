import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { afterAll, beforeAll } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Layer, Logger, LogLevel, ManagedRuntime, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import { createServer } from "node:net"
import { pgLayer } from "../../ledger/src/Database.js"
import { HttpServerLive } from "../../server/src/HttpServerLive.js"
import { exitCodeOf, runCli } from "../src/Cli.js"

const postgres = { host: "127.0.0.1", port: 5432, user: "postgres" }

/** A port nobody listens on right now. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

/** The real API server in this process, on a random port, against a database of its own. */
export const startServer = async () => {
  const port = await freePort()
  const database = `birthday_cli_test_${process.pid}_${Date.now()}`
  const databaseUrl = `postgres://${postgres.user}@${postgres.host}:${postgres.port}/${database}`
  const config = ConfigProvider.fromMap(new Map([["HTTP_PORT", String(port)], ["DATABASE_URL", databaseUrl]]))
  const runtime = ManagedRuntime.make(
    HttpServerLive.pipe(
      Layer.provide(pgLayer(Redacted.make(databaseUrl), { maxConnections: 5 })),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)),
      Layer.provide(Layer.setConfigProvider(config))
    )
  )
  await runtime.runPromise(Effect.void)
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl,
    stop: async () => {
      await runtime.dispose()
      execFileSync("dropdb", ["--force", "--if-exists", "-h", postgres.host, "-U", postgres.user, database])
    }
  }
}

/**
 * Starts a server for the calling test file (before its tests, stopped and its database dropped
 * after them); `run` runs the CLI against it.
 */
export const useServer = () => {
  let server: Awaited<ReturnType<typeof startServer>> | undefined
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return {
    get databaseUrl() {
      return server!.databaseUrl
    },
    get url() {
      return server!.url
    },
    run: (...args: ReadonlyArray<string>) => cli(server!.url, ...args)
  }
}

/** What one CLI run printed and how it exited. */
export interface CliRun {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

const captureConsole = (stdout: Array<string>, stderr: Array<string>): Console.Console => {
  const text = (args: ReadonlyArray<unknown>) => args.map(String).join(" ")
  const out = (...args: ReadonlyArray<unknown>) => void stdout.push(text(args))
  const err = (...args: ReadonlyArray<unknown>) => void stderr.push(text(args))
  const unsafe = { ...globalThis.console, log: out, info: out, error: err, warn: err, debug: err }
  return {
    ...Effect.runSync(Console.consoleWith(Effect.succeed)),
    log: (...args) => Effect.sync(() => out(...args)),
    info: (...args) => Effect.sync(() => out(...args)),
    error: (...args) => Effect.sync(() => err(...args)),
    warn: (...args) => Effect.sync(() => err(...args)),
    unsafe
  }
}

/** Runs `birthday …args` in this process against `url` (given as BIRTHDAY_URL), capturing its output. */
export const cli = async (url: string, ...args: ReadonlyArray<string>): Promise<CliRun> => {
  const stdout: Array<string> = []
  const stderr: Array<string> = []
  const exit = await Effect.runPromiseExit(
    runCli(["node", "birthday", ...args]).pipe(
      Effect.withConsole(captureConsole(stdout, stderr)),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["BIRTHDAY_URL", url]]))),
      Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici))
    )
  )
  return { exitCode: exitCodeOf(exit), stdout: stdout.join("\n"), stderr: stderr.join("\n") }
}
