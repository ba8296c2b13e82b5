import { Chunk, Effect, Option, Queue, Schedule, type Scope, Stream } from "effect"
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

/** Runs a consume loop in its own scope, opening it again (with backoff) whenever it stops. */
const restartingForever = (durable: string) => <E, R>(loop: Effect.Effect<never, E, R>) =>
  loop.pipe(
    Effect.scoped,
    Effect.tapErrorCause((cause) => Effect.logWarning(`Consumer ${durable} stopped; restarting`, cause)),
    Effect.retry(restartSchedule),
    Effect.orDie
  ) as Effect.Effect<never, never, Exclude<R, Scope.Scope>>

/**
 * Consumes a durable pull consumer for ever: `handle` gets the messages as a stream (at most
 * `maxMessages` buffered); when the subscription ends or fails it is opened again.
 */
const run = <E, R>(
  jetstream: JetStreamClient,
  stream: string,
  durable: string,
  maxMessages: number,
  handle: (messages: Stream.Stream<JsMsg, NatsError>) => Effect.Effect<void, E, R>
): Effect.Effect<never, never, R> =>
  Effect.gen(function*() {
    const consumer = yield* Effect.tryPromise({
      try: () => jetstream.consumers.get(stream, durable),
      catch: (cause) => new NatsError(`Cannot bind to ${durable}: ${String(cause)}`)
    })
    const messages = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => consumer.consume({ max_messages: maxMessages }),
        catch: (cause) => new NatsError(`Cannot consume ${durable}: ${String(cause)}`)
      }),
      // Bounded: a close that waits on a pending pull must not hold up shutdown.
      (messages) => Effect.promise(() => messages.close()).pipe(Effect.timeout("2 seconds"), Effect.ignore)
    )
    // Read the iterator by hand: `Stream.fromAsyncIterable` awaits `return()` on interruption,
    // which a pull consumer only answers when its pending pull expires.
    const iterator = messages[Symbol.asyncIterator]()
    const next = Effect.tryPromise({
      try: () => iterator.next(),
      catch: (cause) => Option.some(new NatsError(`Consume failed: ${String(cause)}`))
    }).pipe(Effect.flatMap((result) => result.done ? Effect.fail(Option.none()) : Effect.succeed(result.value)))
    yield* handle(Stream.repeatEffectOption(next))
    return yield* Effect.fail(new NatsError(`${durable}: subscription ended`))
  }).pipe(restartingForever(durable))

/**
 * Consumes a durable pull consumer for ever, for high volume: the client pushes each message into
 * a queue from its callback, and `handle` gets `take(max)`, which waits for at least one message
 * and returns up to `max` of those buffered. No promise, fiber or stream element per message: at
 * thousands of messages a second that overhead was most of the worker's CPU.
 */
const runBatches = <E, R>(
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
    const buffer = yield* Effect.acquireRelease(Queue.unbounded<JsMsg>(), Queue.shutdown)
    const messages = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          consumer.consume({
            max_messages: maxMessages,
            callback: (msg) => {
              Queue.unsafeOffer(buffer, msg)
            }
          }),
        catch: (cause) => new NatsError(`Cannot consume ${durable}: ${String(cause)}`)
      }),
      (messages) => Effect.promise(() => messages.close()).pipe(Effect.timeout("2 seconds"), Effect.ignore)
    )
    const ended = Effect.promise(() => messages.closed()).pipe(
      Effect.flatMap((error) =>
        Effect.fail(new NatsError(`${durable}: subscription ended ${error ? String(error) : ""}`))
      )
    )
    const take = (max: number) => Effect.map(Queue.takeBetween(buffer, 1, max), Chunk.toReadonlyArray)
    yield* Effect.raceFirst(handle(take), ended)
    return yield* Effect.fail(new NatsError(`${durable}: consumer stopped`))
  }).pipe(restartingForever(durable))

/** Durable JetStream consumers: create them, and consume them for ever. */
export const DurableConsumer = { ensure, run, runBatches }
