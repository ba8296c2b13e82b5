import { checkUrl } from "@birthday/domain/UrlSetting"
import { Config, ConfigError, Either, LogLevel, Option } from "effect"

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
  // Validated before the default is attached: the other order loses the setting's name.
  Config.validate({ message: "must be a number from 0 (none) to 1 (all)", validation: (n) => n >= 0 && n <= 1 }),
  Config.withDefault(0),
  Config.withDescription("Share of keep-alive/maintenance rounds traced (0: none, 1: all)")
)

/** Telemetry settings shared by every process (read, so checked, when its telemetry starts). */
export const TelemetryConfig = Config.all({
  otlpEndpoint: Config.option(
    Config.string("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(
      // Empty means unset (tracing off), as OpenTelemetry's own SDKs read it.
      Config.mapOrFail((url) =>
        url.length === 0 ? Either.right(url) : checkUrl(["http:", "https:"], "http://host:4318")(url)
      )
    )
  ).pipe(
    Config.map(Option.filter((url) => url.length > 0)),
    Config.withDescription("OTLP/HTTP base URL (e.g. http://127.0.0.1:4318); tracing is off when unset")
  ),
  logFormat: Config.literal("json", "pretty", "logfmt")("LOG_FORMAT").pipe(Config.withDefault("pretty" as const)),
  logLevel: Config.string("LOG_LEVEL").pipe(
    Config.mapOrFail((name) => {
      const level = logLevels[name.toLowerCase()]
      return level === undefined
        ? Either.left(ConfigError.InvalidData([], `must be one of ${Object.keys(logLevels).join(", ")}`))
        : Either.right(level)
    }),
    Config.withDefault(LogLevel.Info),
    Config.withDescription("Minimum log level (trace, debug, info, warn, error, fatal, none)")
  ),
  maintenanceTraceRatio: MaintenanceTraceRatio
})
