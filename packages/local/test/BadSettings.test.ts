/**
 * Every setting the runner, the server and the email simulator read, each given a value it must
 * refuse: the start fails with one line that names the setting (and never repeats a database
 * password). The settings are found by reading each role's configuration with a provider that
 * records what is asked for, so a new setting without a row here fails the suite.
 */
import { describeStartupFailure, occasionKindNames } from "@birthday/domain"
import { fromArgv, SimulatorConfig } from "@birthday/email-sim/SimulatorConfig"
import { DatabaseUrl } from "@birthday/ledger/LedgerConfig"
import { RunnerStartSettings } from "@birthday/runner/RunnerStartSettings"
import { ServerStartSettings } from "@birthday/server/ServerStartSettings"
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigError, ConfigProvider, Effect, Exit, HashSet } from "effect"
import * as PathPatch from "effect/ConfigProviderPathPatch"
import { execFile } from "node:child_process"
import { createServer, type Server } from "node:net"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** What each role reads at start (its main and the layers it builds), checked before anything else. */
const roles = {
  runner: RunnerStartSettings,
  server: ServerStartSettings,
  "email-sim": SimulatorConfig
} as const

const password = "hunter2"
const kindSettings = occasionKindNames.flatMap((kind) => {
  const prefix = kind.toUpperCase()
  return [[`${prefix}_SEND_TIME`, "9am"], [`${prefix}_LATE_WINDOW`, "two days"], [`${prefix}_FEB29`, "feb30"]] as const
})

/** A value each setting must refuse; `null` for free text that any value is valid for. */
const badValues: Record<string, string | null> = {
  // shared
  DATABASE_URL: `postgres://ops:${password}@db.internal:port/birthday`,
  DATABASE_CONNECT_TIMEOUT: "soon",
  DATABASE_STATEMENT_TIMEOUT: "30",
  NATS_URL: "nats://127.0.0.1:4222,nats://127.0.0.1:port",
  NATS_STREAM_PREFIX: "birthday.prod",
  NATS_DUPLICATE_WINDOW: "a while",
  SLICES: "0",
  SLICE_HORIZON: "6",
  CLOCK_OFFSET: "ahead",
  SHARD_LOCK_EXPIRATION: "6",
  DELIVERY_REPLAY_WINDOW: "two days",
  OTEL_EXPORTER_OTLP_ENDPOINT: "jaeger:4318",
  LOG_FORMAT: "xml",
  LOG_LEVEL: "loud",
  TRACE_MAINTENANCE_RATIO: "1.5",
  ...Object.fromEntries(kindSettings),
  // runner
  RUNNER_HOST: null,
  RUNNER_PORT: "70000",
  SHARDS_PER_GROUP: "0",
  CLUSTER_ASSIGNMENT_INTERVAL: "often",
  SLICE_HAND_OVER_TIMEOUT: "10",
  SLICE_FIRE_AHEAD: "soon",
  SLICE_TOP_UP_INTERVAL: "often",
  SLICE_RESYNC_INTERVAL: "often",
  SLICE_LOAD_BATCH: "-1",
  SLICE_FIRE_BATCH: "0",
  SLICE_UPDATE_BATCH: "1.5",
  SLICE_KEEPER_INTERVAL: "often",
  SLICE_KEEPER_CONCURRENCY: "0",
  SLICE_RETRY_DELAY: "often",
  DELIVERY_WORKERS: "maybe",
  EMAIL_SERVICE_URL: "localhost:8025",
  EMAIL_PROVIDER_NAME: null,
  EMAIL_REQUEST_TIMEOUT: "5",
  EMAIL_CONNECTIONS: "0",
  DELIVERY_BATCH_SIZE: "0",
  DELIVERY_BATCH_WINDOW: "20",
  DELIVERY_CONCURRENCY: "0",
  DELIVERY_CONCURRENCY_MIN: "0",
  DELIVERY_ADAPTIVE_CONCURRENCY: "sometimes",
  DELIVERY_CLAIM_HORIZON: "2",
  DELIVERY_FETCH_BUFFER: "0",
  DELIVERY_RETRY_BASE: "1",
  DELIVERY_RETRY_FACTOR: "0.5",
  DELIVERY_RETRY_CAP: "5",
  DELIVERY_MAX_ATTEMPTS: "0",
  DELIVERY_AMBIGUOUS_POLICY: "maybe",
  BREAKER_CONSECUTIVE_FAILURES: "0",
  BREAKER_FAILURE_RATE: "0",
  BREAKER_MIN_REQUESTS: "0",
  BREAKER_WINDOW: "10",
  BREAKER_OPEN_BASE: "2",
  BREAKER_OPEN_MAX: "30",
  PROVIDER_RATE_LIMIT: "-1",
  PROVIDER_RATE_BURST: "0",
  DELIVERY_ACK_WAIT: "6",
  DELIVERY_LEASE: "5",
  DELIVERY_MAX_DELIVER: "0",
  RUNNER_METRICS_HOST: null,
  RUNNER_METRICS_PORT: "-1",
  METRICS_PORT: "70000",
  RUNNER_ID: null,
  PG_KEEPALIVE_IDLE: "2",
  PG_KEEPALIVE_INTERVAL: "1",
  PG_KEEPALIVE_COUNT: "0",
  PG_TCP_USER_TIMEOUT: "5",
  // server
  HTTP_HOST: null,
  HTTP_PORT: "http",
  API_TOKENS: "ops:",
  RATE_LIMIT_PER_SECOND: "-1",
  RATE_LIMIT_BURST: "0",
  RATE_LIMIT_CALLERS: "0",
  MAX_BODY_BYTES: "0",
  SHUTDOWN_GRACE: "10",
  HTTP_HEADERS_TIMEOUT: "0 seconds",
  HTTP_REQUEST_TIMEOUT: "30",
  HTTP_IDLE_TIMEOUT: "5",
  HTTP_MAX_CONNECTIONS: "0",
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: "0",
  HTTP_DRAIN_BYTES: "-1",
  HTTP_DRAIN_TIME: "2",
  HTTP_MIN_BODY_RATE: "-1",
  HTTP_BODY_GRACE: "5",
  IDEMPOTENCY_TTL: "a day",
  METRICS_REFRESH: "10",
  READINESS_CACHE: "1",
  // email simulator
  EMAIL_SIM_HOST: null,
  EMAIL_SIM_PORT: "-1",
  EMAIL_SIM_SEED: "random",
  EMAIL_SIM_LOG_CAPACITY: "-1",
  EMAIL_SIM_ERROR_RATE: "2",
  EMAIL_SIM_TIMEOUT_RATE: "-0.5",
  EMAIL_SIM_RATE_LIMIT_RATE: "half",
  EMAIL_SIM_LATENCY_MS: "-1",
  EMAIL_SIM_LATENCY_JITTER_MS: "1.5",
  EMAIL_SIM_LATENCY_PER_REQUEST_MS: "-1",
  EMAIL_SIM_RATE_LIMIT_PER_SECOND: "lots",
  EMAIL_SIM_RETRY_AFTER_SECONDS: "-1",
  EMAIL_SIM_HANG_MS: "forever"
}

/** More values a setting must refuse, beyond its row in `badValues`. */
const moreBadValues: ReadonlyArray<readonly [string, string]> = [
  // Blank: meant to hold tokens, it ran the API open without a word.
  ["API_TOKENS", " "],
  ["API_TOKENS", ", ,"],
  ["API_TOKENS", "\t,\n"],
  ["API_TOKENS", ":"],
  ["API_TOKENS", "ops:s3cret,ops:other"]
]

/** The names `config` looks up, in order (each with its default). */
const settingsOf = (config: Config.Config<unknown>) =>
  Effect.gen(function*() {
    const names: Array<string> = []
    const recording = ConfigProvider.fromFlat(ConfigProvider.makeFlat({
      load: (path) => {
        names.push(path.join("_"))
        return Effect.fail(ConfigError.MissingData([...path], "unset"))
      },
      enumerateChildren: () => Effect.succeed(HashSet.empty()),
      patch: PathPatch.empty
    }))
    yield* Effect.withConfigProvider(config, recording)
    return [...new Set(names)]
  })

/** The line a role prints when `config` fails with `name` set to `value` (from `provider`). */
const failureLine = (config: Config.Config<unknown>, provider: ConfigProvider.ConfigProvider) =>
  Effect.map(
    Effect.exit(Effect.withConfigProvider(config, provider)),
    (exit) => Exit.isFailure(exit) ? describeStartupFailure(exit.cause) : "(started)"
  )

const expectNamed = (line: string, name: string, value: string) => {
  expect(line, `${name}=${value}`).toMatch(
    new RegExp(`^invalid setting ${name}: \\S.*; fix it or unset it for the default$`)
  )
  expect(line).not.toContain("\n")
  expect(line).not.toContain(password)
}

describe("a bad setting fails the start in one line naming it", () => {
  for (const [role, config] of Object.entries(roles)) {
    it.effect(`${role}: every setting it reads has a row here`, () =>
      Effect.gen(function*() {
        const names = yield* settingsOf(config)
        expect(names.length).toBeGreaterThan(10)
        expect(names.filter((name) => !(name in badValues))).toEqual([])
      }))

    it.effect(`${role}: each one refused by name`, () =>
      Effect.gen(function*() {
        for (const name of yield* settingsOf(config)) {
          const value = badValues[name]
          if (value === null || value === undefined) continue
          expectNamed(yield* failureLine(config, ConfigProvider.fromMap(new Map([[name, value]]))), name, value)
        }
      }))
  }

  it.effect("server: more values refused by name, and an empty API_TOKENS still meaning no auth", () =>
    Effect.gen(function*() {
      for (const [name, value] of moreBadValues) {
        expectNamed(yield* failureLine(roles.server, ConfigProvider.fromMap(new Map([[name, value]]))), name, value)
      }
      expect(yield* failureLine(roles.server, ConfigProvider.fromMap(new Map([["API_TOKENS", ""]])))).toBe("(started)")
      expect(yield* failureLine(roles.server, ConfigProvider.fromMap(new Map()))).toBe("(started)")
    }))

  it.effect("email-sim: the same through its command-line flags", () =>
    Effect.gen(function*() {
      for (const name of yield* settingsOf(SimulatorConfig)) {
        const value = badValues[name]
        if (value === null || value === undefined) continue
        const flag = `--${name.replace(/^EMAIL_SIM_/, "").toLowerCase().replaceAll("_", "-")}`
        const provider = yield* fromArgv([flag, value])
        expectNamed(yield* failureLine(SimulatorConfig, provider), name, value)
      }
    }))

  it.effect("a malformed DATABASE_URL says what is wrong without repeating it", () =>
    Effect.gen(function*() {
      const lineFor = (url: string) =>
        failureLine(DatabaseUrl, ConfigProvider.fromMap(new Map([["DATABASE_URL", url]])))
      expect(yield* lineFor(`postgres://ops:${password}#1@db/birthday`)).toBe(
        "invalid setting DATABASE_URL: is not a URL; expected postgres://user:password@host:5432/database " +
          "(characters such as @ : / ? # in a user or password percent-encoded); fix it or unset it for the default"
      )
      expect(yield* lineFor(`mysql://ops:${password}@db/birthday`)).toBe(
        "invalid setting DATABASE_URL: has the scheme mysql:, expected postgres:// or postgresql://; " +
          "fix it or unset it for the default"
      )
      expect(yield* lineFor(password)).not.toContain(password)
      expect(yield* lineFor(`postgresql://ops:${password}@db:6432/birthday?sslmode=require`)).toBe("(started)")
    }))

  it("the roles' processes print that one line and exit 1", async () => {
    const start = (entry: string, env: Record<string, string>, args: ReadonlyArray<string> = []) =>
      promisify(execFile)(process.execPath, ["--import", "tsx", entry, ...args], {
        cwd: repoRoot,
        env: { ...process.env, LOG_LEVEL: "info", ...env },
        timeout: 120_000
      }).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr })
      )
    const [server, runner, simulator] = await Promise.all([
      start("packages/server/src/main.ts", { DATABASE_URL: `postgres://ops:${password}#1@db/birthday` }),
      start("packages/runner/src/main.ts", { TRACE_MAINTENANCE_RATIO: "2" }),
      start("packages/email-sim/src/main.ts", {}, ["--error-rate", "2"])
    ])
    expect(server).toEqual({
      code: 1,
      stderr: "birthday-server: invalid setting DATABASE_URL: is not a URL; expected " +
        "postgres://user:password@host:5432/database (characters such as @ : / ? # in a user or password " +
        "percent-encoded); fix it or unset it for the default\n"
    })
    expect(runner).toEqual({
      code: 1,
      stderr: "birthday-runner: invalid setting TRACE_MAINTENANCE_RATIO: must be a number from 0 (none) to 1 (all); " +
        "fix it or unset it for the default\n"
    })
    expect(simulator).toEqual({
      code: 1,
      stderr: "birthday-email-sim: invalid setting EMAIL_SIM_ERROR_RATE: must be between 0 and 1; " +
        "fix it or unset it for the default\n"
    })
  }, 180_000)

  it("checks every setting before binding a port or waiting for Postgres and NATS", async () => {
    // What a second system beside a running one meets: its ports taken, and here no Postgres or NATS.
    const listeners: Array<Server> = []
    const takenPort = () =>
      new Promise<number>((resolve) => {
        const server = createServer()
        listeners.push(server)
        server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
      })
    const closedPort = async () => {
      const port = await takenPort()
      await new Promise((resolve) => listeners.pop()!.close(resolve))
      return port
    }
    const [runnerPort, metricsPort, httpPort, postgresPort, natsPort] = [
      await takenPort(),
      await takenPort(),
      await takenPort(),
      await closedPort(),
      await closedPort()
    ]
    const beside = {
      RUNNER_PORT: String(runnerPort),
      RUNNER_METRICS_PORT: String(metricsPort),
      HTTP_PORT: String(httpPort),
      DATABASE_URL: `postgres://postgres@127.0.0.1:${postgresPort}/birthday`,
      NATS_URL: `nats://127.0.0.1:${natsPort}`
    }
    const cases: ReadonlyArray<readonly ["runner" | "server", string, string]> = [
      ["runner", "SLICES", "0"],
      ["runner", "BIRTHDAY_SEND_TIME", "25:00"],
      ["runner", "BIRTHDAY_FEB29", "feb30"],
      ["runner", "DELIVERY_AMBIGUOUS_POLICY", "maybe"],
      ["runner", "PROVIDER_RATE_LIMIT", "-3"],
      ["runner", "EMAIL_SERVICE_URL", "nope"],
      ["runner", "RUNNER_METRICS_PORT", "-1"],
      ["server", "HTTP_PORT", "abc"],
      ["server", "RATE_LIMIT_PER_SECOND", "-1"]
    ]
    const start = ([role, name, value]: (typeof cases)[number]) =>
      promisify(execFile)(process.execPath, ["--import", "tsx", `packages/${role}/src/main.ts`], {
        cwd: repoRoot,
        env: { ...process.env, LOG_LEVEL: "info", ...beside, [name]: value },
        // Never reached when the setting is checked first; a role that waits instead is stopped here.
        timeout: 60_000
      }).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number | null; stderr: string }) => ({ code: error.code, stderr: error.stderr })
      )
    try {
      const results: Array<{ readonly code: number | null; readonly stderr: string }> = []
      // Two at a time: each loads the TypeScript sources.
      for (let i = 0; i < cases.length; i += 2) results.push(...await Promise.all(cases.slice(i, i + 2).map(start)))
      cases.forEach(([role, name, value], i) => {
        expect({ ...results[i], setting: `${name}=${value}` }).toEqual({
          code: 1,
          stderr: expect.stringMatching(
            new RegExp(`^birthday-${role}: invalid setting ${name}: [^\\n]+; fix it or unset it for the default\\n$`)
          ),
          setting: `${name}=${value}`
        })
      })
      // With every setting right, a runner beside a running one is told both taken ports at once.
      const besideRunning = await start(["runner", "LOG_LEVEL", "info"])
      expect(besideRunning).toEqual({
        code: 1,
        stderr: `birthday-runner: ports 127.0.0.1:${runnerPort} and 127.0.0.1:${metricsPort} are taken, by another ` +
          "process of this kind perhaps (RUNNER_PORT, RUNNER_METRICS_PORT): stop what listens there or set " +
          "RUNNER_PORT and RUNNER_METRICS_PORT to free ports (README: several on one machine)\n"
      })
    } finally {
      listeners.forEach((server) => server.close())
    }
  }, 600_000)
})
