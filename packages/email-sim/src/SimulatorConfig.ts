/**
 * The simulator's configuration: one `defaults` object, read from `EMAIL_SIM_*` environment
 * variables, or from the equivalent `--flags` (`--error-rate 0.3` is `EMAIL_SIM_ERROR_RATE=0.3`).
 * Never reads `PORT`/`HOST`: the cluster runner owns those.
 */
import { Config, ConfigProvider, Data, Effect, Option } from "effect"
import type { FaultSettings } from "./FaultPlan.js"

/** Everything needed to start one simulator. */
export interface SimulatorOptions {
  readonly host: string
  /** 0 binds a random free port. */
  readonly port: number
  /** PRNG seed; `undefined` picks one at start (and logs it, so a run can be replayed). */
  readonly seed: number | undefined
  /** How many request-log entries are kept before the oldest are dropped. */
  readonly logCapacity: number
  readonly faults: FaultSettings
}

/** Overrides for starting a simulator in-process; anything absent takes its default. */
export interface SimulatorOverrides {
  readonly host?: string
  readonly port?: number
  readonly seed?: number | undefined
  readonly logCapacity?: number
  readonly faults?: Partial<FaultSettings>
}

/** Defaults: a fault-free provider on 127.0.0.1:8025. */
export const defaults: SimulatorOptions = {
  host: "127.0.0.1",
  port: 8025,
  seed: undefined,
  logCapacity: 1_000_000,
  faults: {
    errorRate: 0,
    timeoutRate: 0,
    rateLimitRate: 0,
    latencyMs: 0,
    latencyJitterMs: 0,
    latencyPerRequestMs: 0,
    rateLimitPerSecond: 0,
    retryAfterSeconds: 1,
    hangMs: 0
  }
}

/** Defaults with `overrides` applied, for in-process use. */
export const resolve = (overrides: SimulatorOverrides = {}): SimulatorOptions => ({
  host: overrides.host ?? defaults.host,
  port: overrides.port ?? defaults.port,
  seed: overrides.seed ?? defaults.seed,
  logCapacity: overrides.logCapacity ?? defaults.logCapacity,
  faults: { ...defaults.faults, ...overrides.faults }
})

const prefix = "EMAIL_SIM_"

const rate = (name: string, fallback: number, description: string) =>
  Config.number(prefix + name).pipe(
    Config.validate({ message: "must be between 0 and 1", validation: (n) => n >= 0 && n <= 1 }),
    Config.withDefault(fallback),
    Config.withDescription(description)
  )

const count = (name: string, fallback: number, description: string) =>
  Config.integer(prefix + name).pipe(
    Config.validate({ message: "must be >= 0", validation: (n) => n >= 0 }),
    Config.withDefault(fallback),
    Config.withDescription(description)
  )

const f = defaults.faults

/** The simulator's options from the active `ConfigProvider`. */
export const SimulatorConfig: Config.Config<SimulatorOptions> = Config.all({
  host: Config.string(prefix + "HOST").pipe(
    Config.withDefault(defaults.host),
    Config.withDescription("Address to bind")
  ),
  port: count("PORT", defaults.port, "Port to bind (0: any free port)"),
  seed: Config.integer(prefix + "SEED").pipe(
    Config.option,
    Config.map(Option.getOrUndefined),
    Config.withDescription("PRNG seed for reproducible fault sequences (default: random)")
  ),
  logCapacity: count("LOG_CAPACITY", defaults.logCapacity, "Request-log entries kept"),
  faults: Config.all({
    errorRate: rate("ERROR_RATE", f.errorRate, "Share of requests answered 500/503"),
    timeoutRate: rate("TIMEOUT_RATE", f.timeoutRate, "Share of requests that hang"),
    rateLimitRate: rate("RATE_LIMIT_RATE", f.rateLimitRate, "Share of requests answered 429"),
    latencyMs: count("LATENCY_MS", f.latencyMs, "Fixed delay before every answer"),
    latencyJitterMs: count("LATENCY_JITTER_MS", f.latencyJitterMs, "Extra random delay, up to this many ms"),
    latencyPerRequestMs: count(
      "LATENCY_PER_REQUEST_MS",
      f.latencyPerRequestMs,
      "Extra delay per request already in flight (latency grows with load)"
    ),
    rateLimitPerSecond: count(
      "RATE_LIMIT_PER_SECOND",
      f.rateLimitPerSecond,
      "0: none; else answer 429 above this many requests per second"
    ),
    retryAfterSeconds: count("RETRY_AFTER_SECONDS", f.retryAfterSeconds, "Retry-After sent with a 429"),
    hangMs: count("HANG_MS", f.hangMs, "0: hung requests never answer; else answer 504 after this")
  })
})

/** The flag names the command line accepts, each the lower-case dashed form of an `EMAIL_SIM_*` name. */
export const flags = [
  "host",
  "port",
  "seed",
  "log-capacity",
  "error-rate",
  "timeout-rate",
  "rate-limit-rate",
  "latency-ms",
  "latency-jitter-ms",
  "latency-per-request-ms",
  "rate-limit-per-second",
  "retry-after-seconds",
  "hang-ms"
] as const

/** The command line could not be read. */
export class SimulatorArgvError extends Data.TaggedError("SimulatorArgvError")<{ readonly message: string }> {}

/**
 * A `ConfigProvider` that reads `--name value` / `--name=value` flags first and the environment
 * second, so flags and variables share one definition.
 */
export const fromArgv = (
  argv: ReadonlyArray<string>
): Effect.Effect<ConfigProvider.ConfigProvider, SimulatorArgvError> =>
  Effect.suspend(() => {
    const values = new Map<string, string>()
    for (let i = 0; i < argv.length; i++) {
      const match = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i])
      const name = match?.[1]
      if (name === undefined || !(flags as ReadonlyArray<string>).includes(name)) {
        return new SimulatorArgvError({ message: `unknown argument ${argv[i]}; flags: --${flags.join(", --")}` })
      }
      const value = match?.[2] ?? argv[++i]
      if (value === undefined) return new SimulatorArgvError({ message: `--${name} needs a value` })
      values.set(prefix + name.toUpperCase().replaceAll("-", "_"), value)
    }
    return Effect.succeed(ConfigProvider.fromMap(values).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv())))
  })
