import { checkUrl } from "@birthday/domain/UrlSetting"
import { Config, Context, Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { durationSetting, positiveSetting } from "./ConfigFields.js"

/** Defaults that work against a local simulator (`pnpm email-sim`) and a production-like provider. */
export const defaults = {
  emailServiceUrl: "http://127.0.0.1:8025",
  providerName: "email",
  requestTimeout: "5 seconds",
  connections: 256,
  batchSize: 256,
  batchWindow: "20 millis",
  concurrency: 256,
  concurrencyMin: 4,
  adaptiveConcurrency: true,
  claimHorizon: "2 seconds",
  fetchBuffer: 1024,
  retryBase: "1 second",
  retryFactor: 2,
  retryCap: "5 minutes",
  maxAttempts: 12,
  ambiguousPolicy: "retry",
  breakerConsecutiveFailures: 20,
  breakerFailureRate: 0.6,
  breakerMinRequests: 50,
  breakerWindow: "10 seconds",
  breakerOpenBase: "2 seconds",
  breakerOpenMax: "30 seconds",
  providerRateLimit: 1000,
  providerRateBurst: 100,
  ackWait: "6 seconds",
  lease: "5 seconds",
  maxDeliver: 100,
  replayWindow: "48 hours",
  metricsHost: "127.0.0.1",
  metricsPort: 9464,
  runnerId: undefined
} as const

/** A runner name unique per process: two runners never share one by default. */
export const uniqueRunnerId = (): string => `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`

const duration = durationSetting
const positive = positiveSetting

/** A port to listen on; 0 for any free one. */
const listenPort = (name: string) =>
  Config.integer(name).pipe(
    Config.validate({
      message: "must be a port from 0 (any free one) to 65535",
      validation: (n) => n >= 0 && n <= 65535
    })
  )

/** Everything the delivery workers, the breaker, the rate limit and the DLQ mover read. */
export const DeliveryConfig = Config.all({
  emailServiceUrl: Config.string("EMAIL_SERVICE_URL").pipe(
    Config.mapOrFail(checkUrl(["http:", "https:"], "http://host:8025")),
    Config.withDefault(defaults.emailServiceUrl),
    Config.withDescription("Base URL of the email provider (anything that speaks POST /send-email)")
  ),
  providerName: Config.string("EMAIL_PROVIDER_NAME").pipe(
    Config.withDefault(defaults.providerName),
    Config.withDescription("Name of the provider in metrics and logs (one breaker per provider)")
  ),
  requestTimeout: duration("EMAIL_REQUEST_TIMEOUT", defaults.requestTimeout, "Time to wait for the provider's answer"),
  connections: positive(
    "EMAIL_CONNECTIONS",
    defaults.connections,
    "Keep-alive connections to the provider (at least DELIVERY_CONCURRENCY)"
  ),
  batchSize: positive(
    "DELIVERY_BATCH_SIZE",
    defaults.batchSize,
    "Messages claimed (and outcomes written) per SQL statement"
  ),
  batchWindow: duration("DELIVERY_BATCH_WINDOW", defaults.batchWindow, "How long a batch waits to fill up"),
  concurrency: positive(
    "DELIVERY_CONCURRENCY",
    defaults.concurrency,
    "Most provider requests in flight per runner (the adaptive limit moves below it)"
  ),
  concurrencyMin: positive(
    "DELIVERY_CONCURRENCY_MIN",
    defaults.concurrencyMin,
    "Fewest provider requests in flight the adaptive limit goes down to"
  ),
  adaptiveConcurrency: Config.boolean("DELIVERY_ADAPTIVE_CONCURRENCY").pipe(
    Config.withDefault(defaults.adaptiveConcurrency),
    Config.withDescription(
      "Limit requests in flight by the provider's observed latency (false: always DELIVERY_CONCURRENCY)"
    )
  ),
  claimHorizon: duration(
    "DELIVERY_CLAIM_HORIZON",
    defaults.claimHorizon,
    "Claim only what the rate limit lets start within this long (nothing claimed sits waiting)"
  ),
  fetchBuffer: positive("DELIVERY_FETCH_BUFFER", defaults.fetchBuffer, "Messages the pull consumer keeps buffered"),
  retryBase: duration("DELIVERY_RETRY_BASE", defaults.retryBase, "First retry delay of a transient failure"),
  retryFactor: Config.number("DELIVERY_RETRY_FACTOR").pipe(
    Config.validate({ message: "must be a number of at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.retryFactor),
    Config.withDescription("Growth of the retry delay from one attempt to the next")
  ),
  retryCap: duration("DELIVERY_RETRY_CAP", defaults.retryCap, "Longest retry delay"),
  maxAttempts: positive(
    "DELIVERY_MAX_ATTEMPTS",
    defaults.maxAttempts,
    "Provider attempts before an occurrence is dead"
  ),
  ambiguousPolicy: Config.literal("retry", "stop")("DELIVERY_AMBIGUOUS_POLICY").pipe(
    Config.withDefault(defaults.ambiguousPolicy),
    Config.withDescription("After a timeout once the request was sent: retry with the same key, or stop as ambiguous")
  ),
  breakerConsecutiveFailures: positive(
    "BREAKER_CONSECUTIVE_FAILURES",
    defaults.breakerConsecutiveFailures,
    "Consecutive provider failures that open the circuit"
  ),
  // Each validated before its default is attached, which would otherwise lose the setting's name.
  breakerFailureRate: Config.number("BREAKER_FAILURE_RATE").pipe(
    Config.validate({ message: "must be a number above 0 and at most 1", validation: (n) => n > 0 && n <= 1 }),
    Config.withDefault(defaults.breakerFailureRate),
    Config.withDescription("Failure share over the window that opens the circuit")
  ),
  breakerMinRequests: positive(
    "BREAKER_MIN_REQUESTS",
    defaults.breakerMinRequests,
    "Requests in the window before the rate counts"
  ),
  breakerWindow: duration("BREAKER_WINDOW", defaults.breakerWindow, "Window of the failure rate"),
  breakerOpenBase: duration("BREAKER_OPEN_BASE", defaults.breakerOpenBase, "How long the circuit first stays open"),
  breakerOpenMax: duration(
    "BREAKER_OPEN_MAX",
    defaults.breakerOpenMax,
    "Longest open period (it doubles per failed probe)"
  ),
  providerRateLimit: Config.number("PROVIDER_RATE_LIMIT").pipe(
    Config.validate({ message: "must be a number of at least 0", validation: (n) => n >= 0 }),
    Config.withDefault(defaults.providerRateLimit),
    Config.withDescription("Provider requests per second, shared by all delivery runners (0: unlimited)")
  ),
  providerRateBurst: positive(
    "PROVIDER_RATE_BURST",
    defaults.providerRateBurst,
    "Requests allowed at once above the rate"
  ),
  ackWait: duration(
    "DELIVERY_ACK_WAIT",
    defaults.ackWait,
    "JetStream ack_wait of the delivery consumer (messages waiting or in flight are kept alive meanwhile)"
  ),
  lease: duration(
    "DELIVERY_LEASE",
    defaults.lease,
    "A claim's lease in the ledger, renewed while its send is alive: a crashed runner's claims are resent after it"
  ),
  maxDeliver: positive(
    "DELIVERY_MAX_DELIVER",
    defaults.maxDeliver,
    "JetStream max_deliver before the message is dead-lettered"
  ),
  replayWindow: duration("DELIVERY_REPLAY_WINDOW", defaults.replayWindow, "Deadline given to a replayed occurrence"),
  metricsHost: Config.string("RUNNER_METRICS_HOST").pipe(Config.withDefault(defaults.metricsHost)),
  metricsPort: listenPort("RUNNER_METRICS_PORT").pipe(
    Config.orElse(() => listenPort("METRICS_PORT")),
    Config.withDefault(defaults.metricsPort),
    Config.withDescription("Port of the runner's Prometheus /metrics listener (0: any free port)")
  ),
  runnerId: Config.string("RUNNER_ID").pipe(
    Config.orElse(() => Config.sync(uniqueRunnerId)),
    Config.withDescription("Name of this runner in the attempt history (default: host-pid-random, unique)")
  )
})
export type DeliveryConfig = Config.Config.Success<typeof DeliveryConfig>

/** The resolved `DeliveryConfig`, read once and shared by the delivery layers. */
export class DeliverySettings
  extends Context.Tag("@birthday/runner/DeliverySettings")<DeliverySettings, DeliveryConfig>()
{
  static readonly layer = Layer.effect(DeliverySettings, Effect.orDie(DeliveryConfig))
  static readonly layerWith = (overrides: Partial<DeliveryConfig>) =>
    Layer.effect(DeliverySettings, Effect.map(Effect.orDie(DeliveryConfig), (config) => ({ ...config, ...overrides })))
}
