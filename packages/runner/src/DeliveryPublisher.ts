import { DeliveryCommand } from "@birthday/domain"
import { Context, Effect, Layer } from "effect"
import { headers as natsHeaders } from "nats"
import { Nats } from "./Nats.js"
import { commandPayload } from "./TraceHeaders.js"

/** Publishes put on the wire before their acks are awaited, per chunk. */
const chunkSize = 1000
/**
 * Commands awaiting their ack at once across all slices of the process. Counted in commands, not
 * chunks: at a whole second a few commands from each of 256 slices all go out together, instead of
 * four slices at a time with a round trip each.
 */
const maxInFlight = 4000

/**
 * Hands due occurrences to the delivery queue. `publish` never fails: it answers with the keys
 * that were acknowledged, and the caller keeps the rest for a later attempt.
 */
export class DeliveryPublisher extends Context.Tag("@birthday/runner/DeliveryPublisher")<DeliveryPublisher, {
  readonly publish: (commands: ReadonlyArray<DeliveryCommand>) => Effect.Effect<ReadonlyArray<string>>
}>() {
  /**
   * JetStream: every command of a batch is put on the wire before any ack is awaited (pipelined),
   * with `Nats-Msg-Id` = occurrence key so repeats within the dedupe window are dropped.
   */
  static readonly layerJetStream = Layer.effect(
    DeliveryPublisher,
    Effect.gen(function*() {
      const { jetstream, names } = yield* Nats
      // Bounded pipelining for the whole process: a flood of unacknowledged publishes makes
      // JetStream answer late, the client time out, and every slice retry at once.
      const inFlight = yield* Effect.makeSemaphore(maxInFlight)
      const publishChunk = (chunk: ReadonlyArray<DeliveryCommand>, trace: string | undefined) =>
        inFlight.withPermits(chunk.length)(Effect.promise(() =>
          Promise.allSettled(chunk.map((command) => {
            const headers = natsHeaders()
            if (trace !== undefined) headers.set("traceparent", trace)
            return jetstream.publish(
              names.deliverySubject(command.kind),
              commandPayload(command),
              { msgID: command.key, headers }
            )
          }))
        ))
      return {
        publish: (commands) =>
          Effect.gen(function*() {
            const span = yield* Effect.currentSpan.pipe(Effect.option)
            const trace = span._tag === "Some"
              ? `00-${span.value.traceId}-${span.value.spanId}-${span.value.sampled ? "01" : "00"}`
              : undefined
            const acked: Array<string> = []
            let failed = 0
            let failure: unknown = undefined
            for (let i = 0; i < commands.length; i += chunkSize) {
              const chunk = commands.slice(i, i + chunkSize)
              const results = yield* publishChunk(chunk, trace)
              results.forEach((result, index) => {
                if (result.status === "fulfilled") acked.push(chunk[index]!.key)
                else {
                  failed++
                  failure = result.reason
                }
              })
            }
            if (failed > 0) {
              yield* Effect.logWarning("Some delivery commands were not acknowledged", {
                failed,
                cause: String(failure)
              })
            }
            return acked
          }).pipe(Effect.withSpan("DeliveryPublisher.publish", {
            kind: "producer",
            attributes: { "messaging.system": "nats", "messaging.batch.message_count": commands.length }
          }))
      }
    })
  )

  /** Keeps what is published in `published`, in order; for tests. */
  static readonly memory = (published: Array<DeliveryCommand> = []) =>
    Layer.succeed(DeliveryPublisher, {
      publish: (commands) =>
        Effect.sync(() => {
          published.push(...commands)
          return commands.map((command) => command.key)
        })
    })
}
