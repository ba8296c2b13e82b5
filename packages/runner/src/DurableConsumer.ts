import { Chunk, Duration, Effect, Metric, Queue, Schedule } from "effect"
import type { ConsumerConfig, JetStreamClient, JetStreamManager, JsMsg } from "nats"
import { NatsError } from "./Nats.js"

/** A durable consumer's name and the config it is (re-)created with. */
export type DurableConfig = Partial<ConsumerConfig> & { readonly durable_name: string }

/** Consumers found missing (deleted by an operator, a stream re-created) and created again. */
export const consumersRecreated: Metric.Metric.Counter<number> = Metric.counter("delivery_consumer_recreated_total", {
  description: "Durable consumers found missing while consuming and created again",
  incremental: true
})

const isNotFound = (error: unknown): boolean =>
  /not found|10014|consumer deleted/i.test(`${String(error)} ${String((error as { cause?: unknown } | null)?.cause)}`)

/**
 * Creates a durable consumer, or updates the mutable part of its config when it exists, and
 * returns the config in force (the last runner to start sets `ack_wait`; read it back rather
 * than assume this runner's own).
 */
const ensure = (manager: JetStreamManager, stream: string, config: DurableConfig) =>
  Effect.tryPromise({
    try: async () => {
      try {
        await manager.consumers.info(stream, config.durable_name)
      } catch (error) {
        if (!isNotFound(error)) throw error
        return (await manager.consumers.add(stream, config)).config
      }
      const { ack_wait, max_ack_pending, max_deliver } = config
      return (await manager.consumers.update(stream, config.durable_name, {
        ...(ack_wait === undefined ? {} : { ack_wait }),
        ...(max_ack_pending === undefined ? {} : { max_ack_pending }),
        ...(max_deliver === undefined ? {} : { max_deliver })
      })).config
    },
    catch: (cause) => new NatsError(`Cannot create consumer ${config.durable_name} on ${stream}: ${String(cause)}`)
  }).pipe(Effect.withSpan("DurableConsumer.ensure", { attributes: { stream, consumer: config.durable_name } }))

/** Hands `msg` back for redelivery now; on a closed connection it comes back after `ack_wait` all the same. */
const nakQuietly = (msg: JsMsg) => {
  try {
    msg.nak()
  } catch {
    // not answered
  }
}

/** Restarts a consume loop after NATS trouble, never in a hot loop. */
const restartSchedule = Schedule.exponential("500 millis").pipe(
  Schedule.union(Schedule.spaced("15 seconds")),
  Schedule.jittered
)

/** What a consume loop's handler gets. */
export interface ConsumedMessages {
  /**
   * Waits for at least one message and returns up to `max` of those buffered. A message taken is
   * kept alive (`working()` every heartbeat, so its `ack_wait` never runs out while it waits for
   * a circuit, a ledger or a rate limit) until `release`d.
   */
  readonly take: (max: number) => Effect.Effect<ReadonlyArray<JsMsg>>
  /** Stops keeping `msg` alive: call it when the message is answered or left to redelivery. */
  readonly release: (msg: JsMsg) => void
}

/**
 * Consumes a durable pull consumer for ever. Messages are pulled only while the local buffer has
 * room (at most `bufferSize` buffered: pulls ask for what fits), pushed into a queue, and handed
 * to `handle` through `take`. Every message buffered or taken and not yet released gets
 * `working()` every `heartbeat`, so waiting never uses up a redelivery. When the subscription
 * fails it is opened again; when the consumer is gone (deleted by hand, the stream re-created)
 * it is created again from `config`, logged and counted.
 */
const run = <E, R>(
  jetstream: JetStreamClient,
  manager: JetStreamManager,
  stream: string,
  config: DurableConfig,
  options: { readonly bufferSize: number; readonly heartbeat: Duration.DurationInput },
  handle: (messages: ConsumedMessages) => Effect.Effect<void, E, R>
): Effect.Effect<never, never, R> => {
  const durable = config.durable_name
  const { bufferSize } = options
  const kept = new Set<JsMsg>()
  const release = (msg: JsMsg) => {
    kept.delete(msg)
  }
  const beat = Effect.sync(() => {
    for (const msg of kept) {
      try {
        msg.working()
      } catch {
        // A closed connection: the message comes back after `ack_wait` all the same.
      }
    }
  })
  const recreate = (cause: unknown) =>
    Effect.gen(function*() {
      const exists = yield* Effect.tryPromise(() => manager.consumers.info(stream, durable)).pipe(
        Effect.as(true),
        Effect.catchIf(isNotFound, () => Effect.succeed(false))
      )
      if (exists) return yield* Effect.fail(cause)
      yield* Effect.logError(`Consumer ${durable} on ${stream} is gone; creating it again`)
      yield* ensure(manager, stream, config)
      yield* Metric.increment(Metric.tagged(consumersRecreated, "consumer", durable))
    })
  return Effect.gen(function*() {
    // Set when this loop stops: a pull still open (it outlives the loop until it expires) hands
    // back at once whatever it still receives, instead of leaving it for `ack_wait`.
    let closing = false
    // Messages buffered but not taken when the loop stops go back at once (not after `ack_wait`).
    const buffer = yield* Effect.acquireRelease(
      Queue.unbounded<JsMsg>(),
      (buffer) =>
        Effect.flatMap(
          Effect.zipRight(Effect.sync(() => (closing = true)), Queue.takeAll(buffer)),
          (left) =>
            Effect.zipRight(
              Effect.sync(() => {
                for (const msg of left) {
                  kept.delete(msg)
                  nakQuietly(msg)
                }
              }),
              Queue.shutdown(buffer)
            )
        )
    )
    const consumer = yield* Effect.tryPromise({
      try: () => jetstream.consumers.get(stream, durable),
      catch: (cause) => new NatsError(`Cannot bind to ${durable}: ${String(cause)}`)
    }).pipe(Effect.catchAll((cause) => Effect.zipRight(recreate(cause), Effect.fail(cause))))
    // One pull at a time for what fits in the buffer; waits while it is more than half full.
    const pull = Effect.gen(function*() {
      const room = bufferSize - (yield* Queue.size(buffer))
      if (room * 2 < bufferSize) return yield* Effect.sleep("20 millis")
      const batch = yield* Effect.tryPromise({
        try: async () => {
          const messages = await consumer.fetch({ max_messages: room, expires: 5_000 })
          for await (const msg of messages) {
            kept.add(msg)
            if (closing || !Queue.unsafeOffer(buffer, msg)) {
              kept.delete(msg)
              nakQuietly(msg)
            }
          }
        },
        catch: (cause) => new NatsError(`Cannot pull from ${durable}: ${String(cause)}`)
      })
      return batch
    }).pipe(
      Effect.catchAll((cause) => Effect.zipRight(recreate(cause), Effect.fail(cause))),
      Effect.forever
    )
    const take = (max: number) => Effect.map(Queue.takeBetween(buffer, 1, max), Chunk.toReadonlyArray)
    yield* Effect.raceFirst(handle({ take, release }), pull)
    return yield* Effect.fail(new NatsError(`${durable}: consumer stopped`))
  }).pipe(
    Effect.scoped,
    Effect.tapErrorCause((cause) => Effect.logWarning(`Consumer ${durable} stopped; restarting`, cause)),
    Effect.retry(restartSchedule),
    Effect.raceFirst(Effect.forever(Effect.zipRight(Effect.sleep(options.heartbeat), beat))),
    Effect.orDie
  ) as Effect.Effect<never, never, R>
}

/** Durable JetStream consumers: create them, and consume them for ever. */
export const DurableConsumer = { ensure, run }
