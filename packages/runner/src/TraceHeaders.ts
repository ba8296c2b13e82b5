import { type DeliveryCommand, encodeDeliveryCommand } from "@birthday/domain"
import { Headers, HttpTraceContext } from "@effect/platform"
import { Effect, Option, type Tracer } from "effect"
import { headers as natsHeaders, type JetStreamClient, type MsgHdrs, type PubAck } from "nats"

/** NATS headers carrying the current span's W3C `traceparent` (and b3), or none outside a span. */
export const traceHeaders: Effect.Effect<MsgHdrs> = Effect.map(Effect.option(Effect.currentSpan), (span) => {
  const headers = natsHeaders()
  if (Option.isSome(span)) {
    for (const [name, value] of Object.entries(HttpTraceContext.toHeaders(span.value))) headers.set(name, value)
  }
  return headers
})

/** The remote parent span carried by a message's headers, if any. */
export const parentSpan = (headers: MsgHdrs | undefined): Option.Option<Tracer.ExternalSpan> => {
  if (headers === undefined) return Option.none()
  const record: Record<string, string> = {}
  // `get` of a missing header returns "" (not undefined), so only present keys are read.
  for (const key of headers.keys()) {
    const value = headers.get(key)
    if (value !== "") record[key.toLowerCase()] = value
  }
  return HttpTraceContext.fromHeaders(Headers.fromInput(record))
}

const encoder = new TextEncoder()

/** The JetStream payload of a command. */
export const commandPayload = (command: DeliveryCommand): Uint8Array =>
  encoder.encode(JSON.stringify(encodeDeliveryCommand(command)))

/**
 * Publishes a delivery command under a producer span whose trace context travels in the message
 * headers, so the consuming worker and its email call join the publisher's trace. `msgID` is the
 * occurrence key (JetStream drops repeats within the dedupe window).
 */
export const publishDeliveryCommand = (
  jetstream: JetStreamClient,
  subject: string,
  command: DeliveryCommand,
  msgID: string = command.key
): Effect.Effect<PubAck, Error> =>
  Effect.gen(function*() {
    const headers = yield* traceHeaders
    return yield* Effect.tryPromise({
      try: () => jetstream.publish(subject, commandPayload(command), { msgID, headers }),
      catch: (cause) => new Error(`Cannot publish ${command.key} to ${subject}: ${String(cause)}`)
    })
  }).pipe(
    Effect.withSpan("DeliveryCommand.publish", {
      kind: "producer",
      attributes: { "messaging.system": "nats", "messaging.destination.name": subject, "delivery.key": command.key }
    })
  )
