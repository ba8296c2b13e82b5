import { DatabaseUrl } from "@birthday/ledger/LedgerConfig"
import { Config, Duration, Redacted } from "effect"

export { DatabaseUrl } from "@birthday/ledger/LedgerConfig"
export { TelemetryConfig } from "@birthday/telemetry/TelemetryConfig"

/** Defaults that work on a machine with local Postgres. */
export const defaults = {
  httpHost: "127.0.0.1",
  httpPort: 8080,
  maxBodyBytes: 1024 * 1024,
  rateLimitPerSecond: 100,
  rateLimitBurst: 200,
  shutdownGrace: Duration.seconds(10)
} as const

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
