import { DeliveryCommand } from "@birthday/domain"
import { Context, Effect, Layer, Schema } from "effect"
import { headers as natsHeaders } from "nats"
import { Nats } from "./Nats.js"

const encodeCommand = Schema.encodeSync(DeliveryCommand)

/** Publishes put on the wire before their acks are awaited, per chunk. */
const chunkSize = 1000
/** Chunks in flight at once across all slices of the process. */
const publishWindows = 4
const encoder = new TextEncoder()

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
      const inFlight = yield* Effect.makeSemaphore(publishWindows)
      const publishChunk = (chunk: ReadonlyArray<DeliveryCommand>, trace: string | undefined) =>
        inFlight.withPermits(1)(Effect.promise(() =>
          Promise.allSettled(chunk.map((command) => {
            const headers = natsHeaders()
            if (trace !== undefined) headers.set("traceparent", trace)
            return jetstream.publish(
              names.deliverySubject(command.kind),
              encoder.encode(JSON.stringify(encodeCommand(command))),
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
