import type { DeliveryCommand } from "@birthday/domain"
import { HttpTraceContext } from "@effect/platform"
import { Context, Duration, Effect, Layer, type Tracer } from "effect"
import { headers as natsHeaders } from "nats"
import { fiberlessSpans } from "./FiberlessSpans.js"
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

/** Commands published together under one producer span, a child of `parent` (a slice's timer). */
export interface PublishGroup {
  readonly commands: ReadonlyArray<DeliveryCommand>
  readonly parent: Tracer.AnySpan | undefined
}

/**
 * Hands due occurrences to the delivery queue. `publish` never fails: it answers with the keys
 * that were acknowledged, and the caller keeps the rest for a later attempt.
 */
export class DeliveryPublisher extends Context.Tag("@birthday/runner/DeliveryPublisher")<DeliveryPublisher, {
  readonly publish: (groups: ReadonlyArray<PublishGroup>) => Effect.Effect<ReadonlyArray<string>>
  /** How long a second publish of a key is dropped by the queue (its message id is the key). */
  readonly dedupeWindow: Duration.Duration
}>() {
  /**
   * JetStream: every command of a dispatch is put on the wire before any ack is awaited
   * (pipelined), with `Nats-Msg-Id` = occurrence key so repeats within the dedupe window are
   * dropped. Each group gets a `DeliveryPublisher.publish` producer span whose W3C context travels
   * in its commands' headers: one trace runs from the slice's timer through the publish to the
   * worker's consume and email call. (A span per group, not per command: a burst publishes a
   * hundred thousand commands, from at most a few hundred slices.)
   */
  static readonly layerJetStream = Layer.effect(
    DeliveryPublisher,
    Effect.gen(function*() {
      const { config, jetstream, names } = yield* Nats
      const spans = yield* fiberlessSpans
      // Bounded pipelining for the whole process: a flood of unacknowledged publishes makes
      // JetStream answer late, the client time out, and every slice retry at once.
      const inFlight = yield* Effect.makeSemaphore(maxInFlight)
      type Item = { readonly command: DeliveryCommand; readonly trace: string | undefined }
      const publishChunk = (chunk: ReadonlyArray<Item>) =>
        inFlight.withPermits(chunk.length)(Effect.promise(() =>
          Promise.allSettled(chunk.map(({ command, trace }) => {
            const headers = natsHeaders()
            if (trace !== undefined) headers.set("traceparent", trace)
            return jetstream.publish(names.deliverySubject(command.kind), commandPayload(command), {
              msgID: command.key,
              headers
            })
          }))
        ))
      return {
        dedupeWindow: Duration.decode(config.duplicateWindow),
        publish: (groups) =>
          Effect.gen(function*() {
            const current = yield* Effect.option(Effect.currentSpan)
            const items: Array<Item> = []
            const groupSpans = groups.map(({ commands, parent }) => {
              const span = spans.start(
                "DeliveryPublisher.publish",
                parent ?? (current._tag === "Some" ? current.value : undefined),
                "producer",
                { "messaging.system": "nats", "messaging.batch.message_count": commands.length }
              )
              const trace = HttpTraceContext.toHeaders(span).traceparent
              for (const command of commands) items.push({ command, trace })
              return span
            })
            const acked: Array<string> = []
            let failed = 0
            let failure: unknown = undefined
            for (let i = 0; i < items.length; i += chunkSize) {
              const chunk = items.slice(i, i + chunkSize)
              const results = yield* publishChunk(chunk)
              results.forEach((result, index) => {
                if (result.status === "fulfilled") acked.push(chunk[index]!.command.key)
                else {
                  failed++
                  failure = result.reason
                }
              })
            }
            for (const span of groupSpans) spans.end(span)
            if (failed > 0) {
              yield* Effect.logWarning("Some delivery commands were not acknowledged", {
                failed,
                cause: String(failure)
              })
            }
            return acked
          })
      }
    })
  )

  /** Keeps what is published in `published`, in order (no dedupe window: nothing re-announced); for tests. */
  static readonly memory = (published: Array<DeliveryCommand> = []) =>
    Layer.succeed(DeliveryPublisher, {
      dedupeWindow: Duration.zero,
      publish: (groups) =>
        Effect.sync(() => {
          const commands = groups.flatMap((group) => group.commands)
          published.push(...commands)
          return commands.map((command) => command.key)
        })
    })
}
