/**
 * The whole product as real processes for one scenario: the email simulator, the API server and
 * N runners (each with its own RUNNER_PORT, RUNNER_METRICS_PORT and RUNNER_ID), on a database and
 * a NATS stream prefix of the scenario's own, optionally behind TCP proxies and on a Postgres or
 * NATS server of its own so they can be stopped. Everything is torn down when the scope closes,
 * also on failure; logs stay in the scratch directory when the scenario failed.
 */
import { Effect, type Scope } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import pg from "pg"
import { type ManagedProcess, startProcess } from "./ManagedProcess.js"
import { type ProxyMode, startTcpProxy, type TcpProxy } from "./TcpProxy.js"
import { machineNatsUrl, type OwnNats, ownNats, streamPrefix } from "./TestNats.js"
import { machineDatabase, type OwnPostgres, ownPostgres, type TestDatabase } from "./TestPostgres.js"
import { type UserApi, userApi } from "./UserApi.js"
import { freePort, scratchDirectory, waitFor } from "./Workspace.js"

/** Something a proxy can stand in front of. */
export type Proxied = "postgres" | "nats" | "provider"

/** How to build the system. Every field is optional. */
export interface SystemOptions {
  /** Names the scratch directory and database. */
  readonly label?: string
  /** `machine` (default): a fresh database on 127.0.0.1:5432; `own`: an embedded Postgres server. */
  readonly postgres?: "machine" | "own"
  /** `machine` (default): a stream prefix on 127.0.0.1:4222; `own`: a nats-server of its own. */
  readonly nats?: "machine" | "own"
  /** What the app processes reach through a TCP proxy (the kit's own checks go direct). */
  readonly proxies?: ReadonlyArray<Proxied>
  /** Runners started (one after another), default 2. */
  readonly runners?: number
  /** `SLICES`, default 64. */
  readonly slices?: number
  /** Environment of every app process (server and runners), e.g. `dueSoon(…).env`. */
  readonly env?: Record<string, string>
  readonly serverEnv?: Record<string, string>
  /** Environment of the runners, or of runner `index` (0-based). */
  readonly runnerEnv?: Record<string, string> | ((index: number) => Record<string, string>)
  /** Flags of the simulator (`--latency-ms 50` is `{ "latency-ms": 50 }`). */
  readonly simulator?: Record<string, string | number>
  /** Turns on bearer auth on the server (`API_TOKENS=testkit:<token>`); the kit's client sends it. */
  readonly apiToken?: string
}

/** One runner process. */
export interface RunnerHandle {
  readonly index: number
  readonly id: string
  /** `host:port`, as the cluster and `slice_ownership` name it. */
  readonly address: string
  readonly metricsUrl: string
  readonly process: ManagedProcess
}

/** The running system. */
export interface TestSystem {
  readonly dir: string
  readonly logDir: string
  /** The environment every app process got (before per-process additions). */
  readonly env: Record<string, string>
  /** The scenario's database, reached directly. */
  readonly database: TestDatabase
  readonly postgresServer: OwnPostgres | undefined
  readonly natsUrl: string
  readonly natsServer: OwnNats | undefined
  readonly streamPrefix: string
  readonly proxies: Partial<Record<Proxied, TcpProxy>>
  /** Sets a proxy's mode (dies when that proxy was not asked for). */
  readonly proxy: (target: Proxied, mode: ProxyMode) => Effect.Effect<void>
  readonly simulator: ManagedProcess
  /** The simulator's own URL (the kit reads its log here). */
  readonly simulatorUrl: string
  readonly server: ManagedProcess
  readonly serverUrl: string
  readonly api: UserApi
  readonly runners: ReadonlyArray<RunnerHandle>
  /** Starts one more runner and waits until it holds slices. */
  readonly addRunner: (env?: Record<string, string>) => Effect.Effect<RunnerHandle, never, Scope.Scope>
  /** One query on the scenario's database. */
  readonly query: <Row = Record<string, unknown>>(
    text: string,
    values?: ReadonlyArray<unknown>
  ) => Effect.Effect<Array<Row>>
  /** Ledger rows per state. */
  readonly stateCounts: Effect.Effect<Record<string, number>>
  /** Slices held per runner address. */
  readonly ownership: Effect.Effect<Record<string, number>>
}

const httpOk = (url: string) =>
  Effect.promise(() =>
    fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
      async (response) => {
        await response.text()
        return response.ok
      },
      () => false
    )
  )

const proxyUrl = (url: string, proxy: TcpProxy | undefined) => {
  if (proxy === undefined) return url
  const parsed = new URL(url)
  parsed.hostname = "127.0.0.1"
  parsed.port = String(proxy.port)
  return parsed.toString().replace(/\/$/, "")
}

/** Starts the system; see `SystemOptions`. */
export const startSystem = (options: SystemOptions = {}): Effect.Effect<TestSystem, never, Scope.Scope> =>
  Effect.gen(function*() {
    const label = options.label ?? "system"
    const dir = yield* scratchDirectory(label)
    const logDir = join(dir, "logs")
    mkdirSync(logDir, { recursive: true })
    const wanted = new Set(options.proxies ?? [])

    const { database, server: postgresServer } = options.postgres === "own"
      ? yield* ownPostgres(label, dir)
      : { database: yield* machineDatabase(label), server: undefined }
    const natsServer = options.nats === "own" ? yield* ownNats(dir, logDir) : undefined
    const natsUrl = natsServer?.url ?? machineNatsUrl
    const prefix = yield* streamPrefix(natsUrl)

    const simulatorPort = yield* freePort
    const simulatorUrl = `http://127.0.0.1:${simulatorPort}`
    const simulatorArgs = Object.entries({ seed: 7, ...options.simulator, port: simulatorPort })
      .flatMap(([name, value]) => [`--${name}`, String(value)])
    const simulator = yield* startProcess({
      name: "email-sim",
      entry: "packages/email-sim/src/main.ts",
      args: simulatorArgs,
      env: { LOG_LEVEL: "Warning" },
      logDir
    })

    const proxies: Partial<Record<Proxied, TcpProxy>> = {}
    if (wanted.has("postgres")) proxies.postgres = yield* startTcpProxy({ host: database.host, port: database.port })
    if (wanted.has("nats")) {
      const natsPort = Number(new URL(natsUrl).port)
      proxies.nats = yield* startTcpProxy({ host: "127.0.0.1", port: natsPort })
    }
    if (wanted.has("provider")) proxies.provider = yield* startTcpProxy({ host: "127.0.0.1", port: simulatorPort })

    const env: Record<string, string> = {
      DATABASE_URL: proxies.postgres ? database.urlVia("127.0.0.1", proxies.postgres.port) : database.url,
      NATS_URL: proxyUrl(natsUrl, proxies.nats),
      NATS_STREAM_PREFIX: prefix,
      EMAIL_SERVICE_URL: proxyUrl(simulatorUrl, proxies.provider),
      SLICES: String(options.slices ?? 64),
      RATE_LIMIT_PER_SECOND: "1000000",
      RATE_LIMIT_BURST: "1000000",
      OTEL_EXPORTER_OTLP_ENDPOINT: "",
      LOG_LEVEL: "Info",
      ...(options.apiToken === undefined ? {} : { API_TOKENS: `testkit:${options.apiToken}` }),
      ...options.env
    }

    const sqlQuery = <Row>(text: string, values: ReadonlyArray<unknown> = []) =>
      Effect.promise(async () => {
        const client = new pg.Client({ connectionString: database.url })
        await client.connect()
        try {
          return (await client.query(text, values as Array<unknown>)).rows as Array<Row>
        } finally {
          await client.end()
        }
      })
    const ownership = Effect.map(
      sqlQuery<{ runner: string; n: number }>(
        "SELECT runner, count(*)::int AS n FROM slice_ownership WHERE runner IS NOT NULL GROUP BY runner"
      ).pipe(Effect.catchAllDefect(() => Effect.succeed([]))),
      (rows) => Object.fromEntries(rows.map((row) => [row.runner, row.n])) as Record<string, number>
    )
    const stateCounts = Effect.map(
      sqlQuery<{ state: string; n: number }>("SELECT state, count(*)::int AS n FROM occurrences GROUP BY state"),
      (rows) => Object.fromEntries(rows.map((row) => [row.state, row.n])) as Record<string, number>
    )

    const httpPort = yield* freePort
    const serverUrl = `http://127.0.0.1:${httpPort}`
    const server = yield* startProcess({
      name: "server",
      entry: "packages/server/src/main.ts",
      env: { ...env, HTTP_HOST: "127.0.0.1", HTTP_PORT: String(httpPort), ...options.serverEnv },
      logDir
    })
    const api = userApi(serverUrl, options.apiToken)
    // Live once the API is mounted, which is after the migrations ran.
    const serverUp = waitFor(
      "the API server",
      Effect.match(userApi(serverUrl, options.apiToken, 2_000).request("GET", "/users?limit=1"), {
        onFailure: () => false,
        onSuccess: () => true
      }),
      (ok) => ok,
      { timeoutMs: 120_000 }
    ).pipe(Effect.tapDefect(() => Effect.sync(() => console.error(server.tail()))))

    const runners: Array<RunnerHandle> = []
    const runnerEnv = (index: number) =>
      typeof options.runnerEnv === "function" ? options.runnerEnv(index) : options.runnerEnv ?? {}
    const launchRunner = (extra: Record<string, string>) =>
      Effect.gen(function*() {
        const index = runners.length
        const port = yield* freePort
        const metricsPort = yield* freePort
        const id = `runner-${index + 1}`
        const proc = yield* startProcess({
          name: id,
          entry: "packages/runner/src/main.ts",
          env: {
            ...env,
            RUNNER_HOST: "127.0.0.1",
            RUNNER_PORT: String(port),
            RUNNER_METRICS_PORT: String(metricsPort),
            RUNNER_ID: id,
            ...runnerEnv(index),
            ...extra
          },
          logDir
        })
        const handle: RunnerHandle = {
          index,
          id,
          address: `127.0.0.1:${port}`,
          metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
          process: proc
        }
        runners.push(handle)
        return handle
      })
    const holdsSlices = (handle: RunnerHandle) =>
      waitFor(`${handle.id} holds slices`, ownership, (held) => (held[handle.address] ?? 0) > 0, { timeoutMs: 120_000 })
        .pipe(Effect.tapDefect(() => Effect.sync(() => console.error(handle.process.tail()))), Effect.asVoid)
    const addRunner = (extra: Record<string, string> = {}) => Effect.tap(launchRunner(extra), holdsSlices)

    // The first runner boots with the server (the migrator's lock serialises their migrations);
    // the others once it holds slices: runners first started together race on the cluster's own
    // table creation.
    const count = options.runners ?? 2
    const first = count > 0 ? yield* launchRunner({}) : undefined
    yield* serverUp
    yield* waitFor("the simulator", httpOk(`${simulatorUrl}/health`), (ok) => ok, { timeoutMs: 60_000 })
    if (first !== undefined) yield* holdsSlices(first)
    const rest: Array<RunnerHandle> = []
    for (let i = 1; i < count; i++) rest.push(yield* launchRunner({}))
    yield* Effect.forEach(rest, holdsSlices, { concurrency: "unbounded", discard: true })

    const system: TestSystem = {
      dir,
      logDir,
      env,
      database,
      postgresServer,
      natsUrl,
      natsServer,
      streamPrefix: prefix,
      proxies,
      proxy: (target, mode) => {
        const proxy = proxies[target]
        return proxy === undefined
          ? Effect.dieMessage(`no ${target} proxy: pass proxies: ["${target}"]`)
          : proxy.setMode(mode)
      },
      simulator,
      simulatorUrl,
      server,
      serverUrl,
      api,
      runners,
      addRunner,
      query: sqlQuery,
      stateCounts,
      ownership
    }
    return system
  })
