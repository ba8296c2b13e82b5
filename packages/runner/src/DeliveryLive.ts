import { DeliveryLedger } from "@birthday/ledger/DeliveryLedger"
import { Layer } from "effect"
import { BreakerRecorderLive } from "./BreakerRecorder.js"
import { CircuitBreaker } from "./CircuitBreaker.js"
import { DeadLetterMoverLive } from "./DeadLetterMover.js"
import { DeliverySettings } from "./DeliveryConfig.js"
import { DeliveryStreamsLive } from "./DeliveryStreams.js"
import { DeliveryWorkerLive } from "./DeliveryWorker.js"
import { EmailClient } from "./EmailClient.js"
import { ProviderRateLimit } from "./ProviderRateLimit.js"
import { RetrySweeperLive } from "./RetrySweeper.js"

/**
 * Delivery workers, dead-letter mover, retry sweeper, breaker recorder and the rate limit's share, given `DeliverySettings`, a
 * NATS connection and a SqlClient. Tests provide `DeliverySettings.layerWith(...)`.
 */
export const DeliveryWorkersLive = Layer.mergeAll(
  DeliveryWorkerLive,
  DeadLetterMoverLive,
  RetrySweeperLive,
  BreakerRecorderLive,
  ProviderRateLimit.shareLive
).pipe(
  Layer.provide(DeliveryStreamsLive),
  Layer.provide(Layer.mergeAll(EmailClient.layer, CircuitBreaker.layer, ProviderRateLimit.layer, DeliveryLedger.layer))
)

/** Everything that sends, configured from the environment; needs `Nats` and a `SqlClient`. */
export const DeliveryLive = DeliveryWorkersLive.pipe(Layer.provide(DeliverySettings.layer))

/**
 * The ledger's sweeper alone, for a scheduler-only runner: the rows its slices recorded `enqueued`
 * are republished if their publish was lost, with no delivery worker in the process.
 */
export const SweeperLive = RetrySweeperLive.pipe(
  Layer.provide(DeliveryLedger.layer),
  Layer.provide(DeliveryStreamsLive),
  Layer.provide(DeliverySettings.layer)
)
