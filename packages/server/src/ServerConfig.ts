import { DatabaseUrl } from "@birthday/ledger/LedgerConfig"
import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"

export { DatabaseUrl } from "@birthday/ledger/LedgerConfig"
export { TelemetryConfig } from "@birthday/telemetry/TelemetryConfig"

/** Defaults that work on a machine with local Postgres. */
export const defaults = {
  httpHost: "127.0.0.1",
  httpPort: 8080,
  maxBodyBytes: 1024 * 1024,
  rateLimitPerSecond: 100,
  rateLimitBurst: 200,
  rateLimitCallers: 10_000,
  shutdownGrace: Duration.seconds(10),
  headersTimeout: Duration.seconds(10),
  requestTimeout: Duration.seconds(30),
  idleTimeout: Duration.seconds(5),
  maxConnections: 1_000,
  /**
   * Unset, an address may hold this share of `HTTP_MAX_CONNECTIONS`: at a quarter, four addresses
   * holding requests open filled the server; at a tenth it takes ten (connections without a
   * request in progress are closed near the cap, whoever holds them). Not less: one client's pool
   * of 50 concurrent requests (Users.test.ts) must fit in the default's 100.
   */
  maxConnectionsPerAddressShare: 0.1,
  drainBytes: 4 * 1024 * 1024,
  drainTime: Duration.seconds(2),
  /**
   * A body must arrive at this many bytes/s on average once `bodyGrace` has passed: Kestrel's
   * defaults (MinRequestBodyDataRate, 240 bytes/s after 5 s). Without it, ten addresses trickling
   * bodies held the whole connection cap until the request timeout (30 s).
   */
  minBodyRate: 240,
  bodyGrace: Duration.seconds(5),
  idempotencyTtl: Duration.hours(24),
  metricsRefresh: Duration.seconds(10),
  readinessCache: Duration.seconds(1)
} as const

/** One configured bearer token: its label (the actor of what it writes) and the token itself. */
export interface ApiToken {
  readonly name: string
  readonly token: string
}

/**
 * Parses `API_TOKENS` (comma-separated `name:token` pairs or bare tokens, named by position).
 * An empty token (`ops:`, `ops:${UNSET}`) would let a request without a token in, a value of only
 * spaces and commas would run the API open, and two tokens with one label would be one actor
 * sharing one idempotency scope: all refuse to start.
 */
export const parseApiTokens = (raw: string): Either.Either<ReadonlyArray<ApiToken>, string> => {
  const entries = raw.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0)
  // Empty means no auth; a value with nothing in it (" ", ", ,", a blank template variable) was
  // meant to hold tokens, and running open on it would be silent.
  if (raw.length > 0 && entries.length === 0) {
    return Either.left("API_TOKENS holds no token; set tokens, or leave it empty or unset to run without auth")
  }
  const tokens: Array<ApiToken> = []
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(":")
    const name = colon >= 0 ? entry.slice(0, colon).trim() : `token-${index + 1}`
    const token = colon >= 0 ? entry.slice(colon + 1).trim() : entry
    if (name.length === 0) return Either.left(`API_TOKENS entry ${index + 1} has an empty label`)
    if (token.length === 0) return Either.left(`API_TOKENS entry ${index + 1} (${name}) has an empty token`)
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) {
      return Either.left(`API_TOKENS entry ${index + 1} (${name}): a token is letters, digits and -._~+/ only`)
    }
    if (tokens.some((other) => other.name === name)) {
      return Either.left(`API_TOKENS has two tokens labelled ${name}; labels name actors and must be distinct`)
    }
    if (tokens.some((other) => other.token === token)) {
      return Either.left(`API_TOKENS entries ${name} and ${tokens.find((t) => t.token === token)!.name} share a token`)
    }
    tokens.push({ name, token })
  }
  return Either.right(tokens)
}

// Settings are validated (mapOrFail, validate) before their default is attached: the other order
// loses the setting's name from the error ("invalid setting : …").
const ApiTokens = Config.string("API_TOKENS").pipe(
  Config.mapOrFail((raw) => Either.mapLeft(parseApiTokens(raw), (message) => ConfigError.InvalidData([], message))),
  Config.withDefault([]),
  Config.withDescription("Comma-separated bearer tokens (`name:token` or `token`); empty = no auth"),
  Config.map((tokens) => Redacted.make(tokens))
)

const positiveDuration = (name: string, fallback: Duration.Duration, description: string) =>
  Config.duration(name).pipe(
    Config.validate({ message: "must be longer than zero", validation: (d) => Duration.toMillis(d) > 0 }),
    Config.withDefault(fallback),
    Config.withDescription(description)
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
    // A bucket refilled at 0 or less never lets a caller in again (and the wait is divided by it).
    Config.validate({ message: "must be a number above 0", validation: (n) => n > 0 && Number.isFinite(n) }),
    Config.withDefault(defaults.rateLimitPerSecond),
    Config.withDescription("Sustained requests per second allowed per token (or per client address)")
  ),
  rateLimitBurst: Config.number("RATE_LIMIT_BURST").pipe(
    // A request takes one token: a bucket holding less than one refuses every request.
    Config.validate({ message: "must be a number of at least 1", validation: (n) => n >= 1 && Number.isFinite(n) }),
    Config.withDefault(defaults.rateLimitBurst),
    Config.withDescription("Requests a token may make in a burst above the sustained rate")
  ),
  rateLimitCallers: Config.integer("RATE_LIMIT_CALLERS").pipe(
    Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.rateLimitCallers),
    Config.withDescription("Callers the rate limiter remembers; the least recently seen is forgotten first")
  ),
  maxBodyBytes: Config.integer("MAX_BODY_BYTES").pipe(
    Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.maxBodyBytes),
    Config.withDescription("Largest request body accepted (bytes; the bulk import has its own cap)")
  ),
  shutdownGrace: Config.duration("SHUTDOWN_GRACE").pipe(Config.withDefault(defaults.shutdownGrace)),
  headersTimeout: positiveDuration(
    "HTTP_HEADERS_TIMEOUT",
    defaults.headersTimeout,
    "How long a client may take to send a request's headers"
  ),
  requestTimeout: positiveDuration(
    "HTTP_REQUEST_TIMEOUT",
    defaults.requestTimeout,
    "How long a client may take to send a whole request (headers and body)"
  ),
  idleTimeout: positiveDuration(
    "HTTP_IDLE_TIMEOUT",
    defaults.idleTimeout,
    "How long an idle keep-alive connection stays open"
  ),
  maxConnections: Config.integer("HTTP_MAX_CONNECTIONS").pipe(
    Config.validate({ message: "must be at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.maxConnections),
    Config.withDescription("Open connections the server accepts at once; more are closed on arrival")
  ),
  maxConnectionsPerAddress: Config.integer("HTTP_MAX_CONNECTIONS_PER_ADDRESS").pipe(
    Config.validate({ message: "HTTP_MAX_CONNECTIONS_PER_ADDRESS must be at least 1", validation: (n) => n >= 1 }),
    Config.option,
    Config.withDescription(
      "Connections one client address (an IPv6 /64) may hold at once; more are answered 429 on arrival. " +
        "Default: a tenth of HTTP_MAX_CONNECTIONS"
    )
  ),
  drainBytes: Config.integer("HTTP_DRAIN_BYTES").pipe(
    // Checked before the default: a check after it loses the setting's name.
    Config.validate({ message: "HTTP_DRAIN_BYTES must not be negative", validation: (n) => n >= 0 }),
    Config.withDefault(defaults.drainBytes),
    Config.withDescription(
      "After answering before a request's body arrived (413, 401, 429), body bytes still read and discarded " +
        "so that the client reads the answer; past them the connection is closed"
    )
  ),
  drainTime: positiveDuration(
    "HTTP_DRAIN_TIME",
    defaults.drainTime,
    "How long such a body is read and discarded at most before the connection is closed"
  ),
  minBodyRate: Config.integer("HTTP_MIN_BODY_RATE").pipe(
    Config.validate({ message: "HTTP_MIN_BODY_RATE must not be negative", validation: (n) => n >= 0 }),
    Config.withDefault(defaults.minBodyRate),
    Config.withDescription(
      "Bytes/s a request body must average once HTTP_BODY_GRACE has passed; slower is answered 408 and closed (0: off)"
    )
  ),
  bodyGrace: positiveDuration(
    "HTTP_BODY_GRACE",
    defaults.bodyGrace,
    "How long a request body may arrive at any rate before HTTP_MIN_BODY_RATE applies"
  ),
  idempotencyTtl: positiveDuration(
    "IDEMPOTENCY_TTL",
    defaults.idempotencyTtl,
    "How long a create's Idempotency-Key is remembered"
  ),
  metricsRefresh: positiveDuration(
    "METRICS_REFRESH",
    defaults.metricsRefresh,
    "How often the ledger-wide gauges of /metrics are recomputed (scrapes read the last values)"
  ),
  readinessCache: positiveDuration(
    "READINESS_CACHE",
    defaults.readinessCache,
    "How long one /health/ready answer is reused"
  )
}).pipe(Config.map((config) => ({
  ...config,
  maxConnectionsPerAddress: Option.getOrElse(
    config.maxConnectionsPerAddress,
    () => Math.max(1, Math.floor(config.maxConnections * defaults.maxConnectionsPerAddressShare))
  )
})))
export type ServerConfig = Config.Config.Success<typeof ServerConfig>
