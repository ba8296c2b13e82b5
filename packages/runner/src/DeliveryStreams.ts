import { Duration, Effect, Layer } from "effect"
import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type StreamConfig } from "nats"
import { Nats, NatsError } from "./Nats.js"

/** Bounds of the dead-letter stream (and of the advisories that feed it). */
export const deadLetterLimits = {
  maxAge: Duration.days(30),
  maxMessages: 1_000_000,
  maxBytes: 1024 * 1024 * 1024
} as const

/**
 * Creates or updates, idempotently, the delivery stream (subjects per kind, dedupe window on
 * `Nats-Msg-Id`), the dead-letter stream and the stream that keeps max-delivery advisories.
 */
export const ensureDeliveryStreams = Effect.gen(function*() {
  const { config, manager, names } = yield* Nats
  const upsert = (stream: Partial<StreamConfig> & { name: string }) =>
    Effect.tryPromise({
      try: async () => {
        try {
          await manager.streams.info(stream.name)
          return await manager.streams.update(stream.name, stream)
        } catch (error) {
          if ((error as { code?: string }).code !== "404" && !String(error).includes("not found")) throw error
          return await manager.streams.add(stream)
        }
      },
      catch: (cause) => new NatsError(`Cannot create or update stream ${stream.name}: ${String(cause)}`)
    })
  yield* upsert({
    name: names.deliveryStream,
    subjects: [names.deliverySubjects],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(Duration.toMillis(config.duplicateWindow))
  })
  // Dead letters are for an operator to look at: bounded, the oldest dropped first. The ledger,
  // not this stream, is the record of what became of each occurrence.
  yield* upsert({
    name: names.deadLetterStream,
    subjects: [names.deadLetterSubjects],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(Duration.toMillis(deadLetterLimits.maxAge)),
    max_msgs: deadLetterLimits.maxMessages,
    max_bytes: deadLetterLimits.maxBytes
  })
  yield* upsert({
    name: names.advisoryStream,
    subjects: [`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.deliveryStream}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs: deadLetterLimits.maxMessages,
    max_bytes: deadLetterLimits.maxBytes
  })
}).pipe(Effect.withSpan("DeliveryStreams.ensure"))

/** Ensures the streams at start. */
export const DeliveryStreamsLive = Layer.effectDiscard(ensureDeliveryStreams).pipe(Layer.orDie)
