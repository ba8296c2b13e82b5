import { type DeliveryCommand, encodeDeliveryCommand } from "@birthday/domain"
import { HttpTraceContext } from "@effect/platform"
import { Config, Context, Data, Duration, Effect, Layer, Option } from "effect"
import { connect, headers as natsHeaders, type NatsConnection } from "nats"

/** Where the delivery queue is; the same variables (and subject scheme) as the runner's `NatsConfig`. */
export const DeliveryCommandPublisherConfig = Config.all({
  natsUrl: Config.string("NATS_URL").pipe(
    Config.withDefault("nats://127.0.0.1:4222"),
    Config.withDescription("NATS server URL (JetStream enabled)")
  ),
  streamPrefix: Config.string("NATS_STREAM_PREFIX").pipe(
    Config.withDefault("birthday"),
    Config.withDescription("Prefix of the delivery subjects: {prefix}.delivery.{kind}")
  ),
  replayWindow: Config.duration("DELIVERY_REPLAY_WINDOW").pipe(
    Config.withDefault(Duration.hours(48)),
    Config.withDescription("Deadline given to a replayed occurrence, from the time of the replay")
  )
})

/** The queue could not take the command. */
export class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly message: string }> {}

const encoder = new TextEncoder()

/**
 * Publishes delivery commands from the API process (replays). Connects on first use, so the API
 * starts and serves users while NATS is down; the trace context travels in the headers.
 */
export class DeliveryCommandPublisher extends Context.Tag("@birthday/server/DeliveryCommandPublisher")<
  DeliveryCommandPublisher,
  {
    readonly publish: (command: DeliveryCommand, msgID: string) => Effect.Effect<void, PublishFailed>
    readonly replayWindow: Duration.Duration
  }
>() {
  static readonly layer = Layer.scoped(
    DeliveryCommandPublisher,
    Effect.gen(function*() {
      const config = yield* Effect.orDie(DeliveryCommandPublisherConfig)
      let connection: Promise<NatsConnection> | undefined
      const connected = () => {
        connection ??= connect({ servers: config.natsUrl, name: "birthday-server", maxReconnectAttempts: -1 }).catch(
          (error) => {
            connection = undefined
            throw error
          }
        )
        return connection
      }
      yield* Effect.addFinalizer(() =>
        connection === undefined
          ? Effect.void
          : Effect.promise(() => connection!.then((nc) => nc.drain()).catch(() => undefined))
      )
      const publish = (command: DeliveryCommand, msgID: string) =>
        Effect.gen(function*() {
          const span = yield* Effect.option(Effect.currentSpan)
          const headers = natsHeaders()
          if (Option.isSome(span)) {
            for (const [name, value] of Object.entries(HttpTraceContext.toHeaders(span.value))) headers.set(name, value)
          }
          const subject = `${config.streamPrefix}.delivery.${command.kind}`
          yield* Effect.tryPromise({
            try: async () => {
              const nc = await connected()
              await nc.jetstream().publish(subject, encoder.encode(JSON.stringify(encodeDeliveryCommand(command))), {
                msgID,
                headers,
                timeout: 5_000
              })
            },
            catch: (cause) => new PublishFailed({ message: `Cannot publish ${command.key}: ${String(cause)}` })
          })
        }).pipe(
          Effect.withSpan("DeliveryCommandPublisher.publish", {
            kind: "producer",
            attributes: { "messaging.system": "nats", "delivery.key": command.key }
          })
        )
      return { publish, replayWindow: config.replayWindow }
    })
  )
}
