import { Chunk, Effect, Queue, Schedule } from "effect"
import type { ConsumerConfig, JetStreamClient, JetStreamManager, JsMsg } from "nats"
import { NatsError } from "./Nats.js"

/** Creates a durable consumer, or updates the mutable part of its config when it exists. */
const ensure = (
  manager: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { readonly durable_name: string }
) =>
  Effect.tryPromise({
    try: async () => {
      try {
        await manager.consumers.info(stream, config.durable_name)
      } catch (error) {
        if (!String(error).includes("not found")) throw error
        return await manager.consumers.add(stream, config)
      }
      const { ack_wait, max_ack_pending, max_deliver } = config
      return await manager.consumers.update(stream, config.durable_name, {
        ...(ack_wait === undefined ? {} : { ack_wait }),
        ...(max_ack_pending === undefined ? {} : { max_ack_pending }),
        ...(max_deliver === undefined ? {} : { max_deliver })
      })
    },
    catch: (cause) => new NatsError(`Cannot create consumer ${config.durable_name} on ${stream}: ${String(cause)}`)
  }).pipe(Effect.withSpan("DurableConsumer.ensure", { attributes: { stream, consumer: config.durable_name } }))

/** Restarts a consume loop after NATS trouble, never in a hot loop. */
const restartSchedule = Schedule.exponential("500 millis").pipe(
  Schedule.union(Schedule.spaced("15 seconds")),
  Schedule.jittered
)

/**
 * Consumes a durable pull consumer for ever: the client pushes each message into a queue from its
 * callback, and `handle` gets `take(max)`, which waits for at least one message and returns up to
 * `max` of those buffered (no promise, fiber or stream element per message: at thousands of
 * messages a second that overhead was most of the worker's CPU). When the subscription ends or
 * fails it is opened again.
 */
const run = <E, R>(
  jetstream: JetStreamClient,
  stream: string,
  durable: string,
  maxMessages: number,
  handle: (take: (max: number) => Effect.Effect<ReadonlyArray<JsMsg>>) => Effect.Effect<void, E, R>
): Effect.Effect<never, never, R> =>
  Effect.gen(function*() {
    const consumer = yield* Effect.tryPromise({
      try: () => jetstream.consumers.get(stream, durable),
      catch: (cause) => new NatsError(`Cannot bind to ${durable}: ${String(cause)}`)
    })
    // Messages fetched but not handed out when the loop stops go back at once (not after `ack_wait`).
    const buffer = yield* Effect.acquireRelease(Queue.unbounded<JsMsg>(), (buffer) =>
      Effect.flatMap(Queue.takeAll(buffer), (left) =>
        Effect.zipRight(
          Effect.sync(() => {
            for (const msg of left) {
              try {
                msg.nak()
              } catch {
                // Not answered: it comes back after `ack_wait` all the same.
              }
            }
          }),
          Queue.shutdown(buffer)
        )))
    const messages = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          consumer.consume({
            max_messages: maxMessages,
            callback: (msg) => {
              Queue.unsafeOffer(buffer, msg)
            }
          }),
        catch: (cause) =>
          new NatsError(`Cannot consume ${durable}: ${String(cause)}`)
      }),
      (messages) =>
        Effect.promise(() => messages.close()).pipe(Effect.timeout("2 seconds"), Effect.ignore)
    )
    const ended = Effect.promise(() => messages.closed()).pipe(
      Effect.flatMap((error) =>
        Effect.fail(new NatsError(`${durable}: subscription ended ${error ? String(error) : ""}`))
      )
    )
    const take = (max: number) => Effect.map(Queue.takeBetween(buffer, 1, max), Chunk.toReadonlyArray)
    yield* Effect.raceFirst(handle(take), ended)
    return yield* Effect.fail(new NatsError(`${durable}: consumer stopped`))
  }).pipe(
    Effect.scoped,
    Effect.tapErrorCause((cause) => Effect.logWarning(`Consumer ${durable} stopped; restarting`, cause)),
    Effect.retry(restartSchedule),
    Effect.orDie
  ) as Effect.Effect<never, never, R>

/** Durable JetStream consumers: create them, and consume them for ever. */
export const DurableConsumer = { ensure, run }
