import { Config, ConfigError, Duration, Either, LogLevel, Option, Redacted } from "effect"

/** Defaults that work on a machine with local Postgres. */
export const defaults = {
  databaseUrl: "postgres://postgres@127.0.0.1:5432/birthday",
  httpHost: "127.0.0.1",
  httpPort: 8080,
  maxBodyBytes: 1024 * 1024,
  rateLimitPerSecond: 100,
  rateLimitBurst: 200,
  shutdownGrace: Duration.seconds(10)
} as const

/** The database URL, shared by every component that talks to Postgres. */
export const DatabaseUrl = Config.redacted("DATABASE_URL").pipe(
  Config.withDefault(Redacted.make(defaults.databaseUrl)),
  Config.withDescription("Postgres connection URL; the database is created at start when missing")
)

/**
 * `API_TOKENS`: comma-separated `name:token` pairs (or bare tokens, named by position). When
 * empty, the API is open.
 */
const ApiTokens = Config.string("API_TOKENS").pipe(
  Config.withDefault(""),
  Config.withDescription("Comma-separated bearer tokens (`name:token` or `token`); empty = no auth"),
  Config.map((raw) =>
    new Map(
      raw.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0).map((entry, index) => {
        const colon = entry.indexOf(":")
        return colon > 0
          ? [entry.slice(colon + 1), entry.slice(0, colon)] as const
          : [entry, `token-${index + 1}`] as const
      })
    )
  ),
  Config.map((byToken) => Redacted.make(byToken as ReadonlyMap<string, string>))
)

/** Everything the HTTP API process reads from its environment. */
export const ServerConfig = Config.all({
  databaseUrl: DatabaseUrl,
  httpHost: Config.string("HTTP_HOST").pipe(
    Config.withDefault(defaults.httpHost),
    Config.withDescription("Interface the HTTP API binds to")
  ),
  httpPort: Config.port("HTTP_PORT").pipe(
    Config.withDefault(defaults.httpPort),
    Config.withDescription("HTTP API port (never PORT: the cluster runner reads that)")
  ),
  apiTokens: ApiTokens,
  rateLimitPerSecond: Config.number("RATE_LIMIT_PER_SECOND").pipe(
    Config.withDefault(defaults.rateLimitPerSecond),
    Config.withDescription("Sustained requests per second allowed per token (or per client address)")
  ),
  rateLimitBurst: Config.number("RATE_LIMIT_BURST").pipe(
    Config.withDefault(defaults.rateLimitBurst),
    Config.withDescription("Requests a token may make in a burst above the sustained rate")
  ),
  maxBodyBytes: Config.integer("MAX_BODY_BYTES").pipe(Config.withDefault(defaults.maxBodyBytes)),
  shutdownGrace: Config.duration("SHUTDOWN_GRACE").pipe(Config.withDefault(defaults.shutdownGrace))
})
export type ServerConfig = Config.Config.Success<typeof ServerConfig>

const logLevels: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

/**
 * `TRACE_MAINTENANCE_RATIO`: the share of keep-alive and maintenance rounds (slice keeper pings,
 * slice top-ups and resyncs, breaker records, retry sweeps, runner health probes) that are traced.
 * 0 by default, so an operator's traces hold greetings, requests and failures.
 */
export const MaintenanceTraceRatio = Config.number("TRACE_MAINTENANCE_RATIO").pipe(
  Config.withDefault(0),
  Config.validate({ message: "must be between 0 and 1", validation: (n) => n >= 0 && n <= 1 }),
  Config.withDescription("Share of keep-alive/maintenance rounds traced (0: none, 1: all)")
)

/** Telemetry settings shared by every process. */
export const TelemetryConfig = Config.all({
  otlpEndpoint: Config.option(Config.string("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(
    Config.map(Option.filter((url) => url.length > 0)),
    Config.withDescription("OTLP/HTTP base URL (e.g. http://127.0.0.1:4318); tracing is off when unset")
  ),
  logFormat: Config.literal("json", "pretty", "logfmt")("LOG_FORMAT").pipe(Config.withDefault("pretty" as const)),
  logLevel: Config.string("LOG_LEVEL").pipe(
    Config.withDefault("info"),
    Config.mapOrFail((name) => {
      const level = logLevels[name.toLowerCase()]
      return level === undefined
        ? Either.left(ConfigError.InvalidData([], `LOG_LEVEL must be one of ${Object.keys(logLevels).join(", ")}`))
        : Either.right(level)
    }),
    Config.withDescription("Minimum log level (trace, debug, info, warn, error, fatal, none)")
  )
})
