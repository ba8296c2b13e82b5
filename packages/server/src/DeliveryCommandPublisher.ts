import { type DeliveryCommand, encodeDeliveryCommand, NatsConfig, natsNames } from "@birthday/domain"
import { HttpTraceContext } from "@effect/platform"
import { Config, Context, Data, Duration, Effect, Layer, Option } from "effect"
import { connect, headers as natsHeaders, type NatsConnection } from "nats"

/** Where the delivery queue is (the runners' `NatsConfig`), and the deadline a replay gets. */
export const DeliveryCommandPublisherConfig = Config.all({
  nats: NatsConfig,
  replayWindow: Config.duration("DELIVERY_REPLAY_WINDOW").pipe(
    Config.withDefault(Duration.hours(48)),
    Config.withDescription("Deadline given to a replayed occurrence, from the time of the replay")
  )
})

/** The queue could not take the command. */
export class PublishFailed extends Data.TaggedError("PublishFailed")<{ readonly message: string }> {}

/** What readiness reports of the delivery queue. */
export type QueueStatus =
  | { readonly _tag: "Unreachable"; readonly reason: string }
  /** NATS answers, but no runner has created the delivery consumer yet. */
  | { readonly _tag: "NoConsumer" }
  /** The delivery consumer's backlog: not yet delivered, and delivered but not yet acknowledged. */
  | { readonly _tag: "Consumer"; readonly pending: number; readonly inFlight: number }

const encoder = new TextEncoder()

/**
 * Publishes delivery commands from the API process (replays) and reports the delivery queue's
 * backlog. Connects on first use, so the API starts and serves users while NATS is down; the trace
 * context travels in the headers.
 */
export class DeliveryCommandPublisher extends Context.Tag("@birthday/server/DeliveryCommandPublisher")<
  DeliveryCommandPublisher,
  {
    readonly publish: (command: DeliveryCommand, msgID: string) => Effect.Effect<void, PublishFailed>
    /** NATS reachable within `timeout`, and the delivery consumer's backlog. */
    readonly queueStatus: (timeout: Duration.DurationInput) => Effect.Effect<QueueStatus>
    readonly replayWindow: Duration.Duration
  }
>() {
  static readonly layer = Layer.scoped(
    DeliveryCommandPublisher,
    Effect.gen(function*() {
      const config = yield* Effect.orDie(DeliveryCommandPublisherConfig)
      const names = natsNames(config.nats.streamPrefix)
      let connection: Promise<NatsConnection> | undefined
      const connected = () => {
        connection ??= connect({ servers: config.nats.url, name: "birthday-server", maxReconnectAttempts: -1 }).catch(
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
          yield* Effect.tryPromise({
            try: async () => {
              const nc = await connected()
              await nc.jetstream().publish(
                names.deliverySubject(command.kind),
                encoder.encode(JSON.stringify(encodeDeliveryCommand(command))),
                { msgID, headers, timeout: 5_000 }
              )
            },
            catch: (cause) => new PublishFailed({ message: `Cannot publish ${command.key}: ${String(cause)}` })
          })
        }).pipe(
          Effect.withSpan("DeliveryCommandPublisher.publish", {
            kind: "producer",
            attributes: { "messaging.system": "nats", "delivery.key": command.key }
          })
        )
      const queueStatus = (timeout: Duration.DurationInput) =>
        Effect.tryPromise({
          try: async (): Promise<QueueStatus> => {
            const nc = await connected()
            // A round trip to the server: a connection that is reconnecting does not answer it.
            await nc.flush()
            const manager = await nc.jetstreamManager({ checkAPI: false })
            try {
              const info = await manager.consumers.info(names.deliveryStream, names.deliveryConsumer)
              return { _tag: "Consumer", pending: info.num_pending, inFlight: info.num_ack_pending }
            } catch (error) {
              if (/not found/i.test(String(error))) return { _tag: "NoConsumer" }
              throw error
            }
          },
          catch: String
        }).pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => `no answer from ${config.nats.url} in time` }),
          Effect.catchAll((reason) => Effect.succeed<QueueStatus>({ _tag: "Unreachable", reason })),
          Effect.withSpan("DeliveryCommandPublisher.queueStatus")
        )
      return { publish, queueStatus, replayWindow: config.replayWindow }
    })
  )
}
