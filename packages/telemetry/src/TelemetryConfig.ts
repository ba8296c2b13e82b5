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
