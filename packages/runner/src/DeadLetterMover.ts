import { DeliveryCommand } from "@birthday/domain"
import { Duration, Effect, Layer, Metric, Option, Schema } from "effect"
import { AckPolicy, DeliverPolicy, headers as natsHeaders, type JsMsg, nanos } from "nats"
import { deadLettered } from "./DeliveryMetrics.js"
import { DurableConsumer } from "./DurableConsumer.js"
import { ack, nak } from "./MessageReply.js"
import { Nats } from "./Nats.js"
import { parentSpan } from "./TraceHeaders.js"

/** The `io.nats.jetstream.advisory.v1.max_deliver` advisory (the fields we use). */
const MaxDeliverAdvisory = Schema.parseJson(Schema.Struct({
  stream: Schema.String,
  consumer: Schema.String,
  stream_seq: Schema.Number,
  deliveries: Schema.Number
}))
const decodeAdvisory = Schema.decodeUnknownOption(MaxDeliverAdvisory)
const decodeCommand = Schema.decodeUnknownOption(Schema.parseJson(DeliveryCommand))
const decoder = new TextDecoder()

const isNotFound = (error: unknown) => /not found|no message found|10037/i.test(String(error))

/**
 * Listens durably to max-delivery advisories of the delivery consumer. Each exhausted message is
 * copied, headers included, to `{prefix}.dlq.{kind}` and deleted from the work-queue stream (which
 * does not remove it by itself). The ledger is not touched: the broker's delivery count never
 * decides that a greeting is dead (docs/ledger.md). A row still owed a send is republished by the
 * ledger's sweeper; one that moved on (rescheduled, settled) needs nothing.
 */
export const DeadLetterMoverLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const { jetstream, manager, names } = yield* Nats

    const consumerConfig = {
      durable_name: names.advisoryConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(30_000),
      max_deliver: -1
    }
    yield* DurableConsumer.ensure(manager, names.advisoryStream, consumerConfig)

    const move = (advisoryMsg: JsMsg) =>
      Effect.gen(function*() {
        const advisory = decodeAdvisory(decoder.decode(advisoryMsg.data))
        if (Option.isNone(advisory) || advisory.value.stream !== names.deliveryStream) return yield* ack(advisoryMsg)
        const { deliveries, stream, stream_seq: seq } = advisory.value
        const stored = yield* Effect.tryPromise(() => manager.streams.getMessage(stream, { seq })).pipe(
          Effect.map(Option.some),
          Effect.catchIf(isNotFound, () => Effect.succeed(Option.none()))
        )
        // Already acknowledged or moved by an earlier attempt: nothing left to do.
        if (Option.isNone(stored)) return yield* ack(advisoryMsg)
        const message = stored.value
        const kind = message.subject.split(".").pop() ?? "unknown"
        const command = decodeCommand(decoder.decode(message.data))
        yield* Effect.gen(function*() {
          const headers = natsHeaders()
          for (const key of message.header?.keys() ?? []) {
            for (const value of message.header.values(key)) headers.append(key, value)
          }
          headers.set("X-Original-Subject", message.subject)
          headers.set("X-Original-Seq", String(seq))
          headers.set("X-Deliveries", String(deliveries))
          yield* Effect.tryPromise(() =>
            jetstream.publish(names.deadLetterSubject(kind), message.data, { headers, msgID: `dlq:${stream}:${seq}` })
          )
          yield* Effect.tryPromise(() => manager.streams.deleteMessage(stream, seq)).pipe(
            Effect.catchIf(isNotFound, () => Effect.succeed(true))
          )
          yield* Metric.increment(Metric.tagged(deadLettered, "kind", kind))
          yield* Effect.logWarning("Moved a delivery command to the dead-letter stream").pipe(
            Effect.annotateLogs({
              key: Option.match(command, { onNone: () => "", onSome: (c) => c.key }),
              seq,
              deliveries
            })
          )
        }).pipe(
          Effect.withSpan("DeadLetterMover.move", {
            kind: "consumer",
            parent: Option.getOrUndefined(parentSpan(message.header)),
            attributes: { "delivery.seq": seq, "delivery.kind": kind }
          })
        )
        yield* ack(advisoryMsg)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Effect.logError("Cannot move a dead letter; retrying", cause),
            nak(advisoryMsg, Duration.seconds(5))
          )
        )
      )

    yield* DurableConsumer.run(
      jetstream,
      manager,
      names.advisoryStream,
      consumerConfig,
      { bufferSize: 64, heartbeat: "10 seconds" },
      ({ release, take }) =>
        Effect.forever(
          Effect.flatMap(take(64), (advisories) =>
            Effect.forEach(
              advisories,
              (msg) => Effect.ensuring(move(msg), Effect.sync(() => release(msg))),
              { concurrency: 4, discard: true }
            ))
        )
    ).pipe(Effect.forkScoped)
  }).pipe(Effect.withSpan("DeadLetterMover.start"))
)
