/**
 * A consume loop that stops (a graceful stop, a restart after NATS trouble) leaves its last pull
 * open until it expires. Whatever that pull still receives must go back to the stream at once,
 * not wait out `ack_wait` (a rolling restart's greetings were late by it) or, worse, stay kept
 * alive by the heartbeat of a loop that no longer takes anything. Real NATS.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { AckPolicy, connect, nanos, RetentionPolicy } from "nats"
import { randomBytes } from "node:crypto"
import { DurableConsumer } from "../src/DurableConsumer.js"

describe("DurableConsumer", () => {
  it.live(
    "what a stopped loop's open pull still receives goes to the next loop at once, not after ack_wait",
    () =>
      Effect.gen(function*() {
        const nc = yield* Effect.acquireRelease(
          Effect.promise(() => connect({ servers: "nats://127.0.0.1:4222" })),
          (nc) => Effect.promise(() => nc.close())
        )
        const manager = yield* Effect.promise(() => nc.jetstreamManager())
        const jetstream = nc.jetstream()
        const stream = `durable_consumer_test_${randomBytes(4).toString("hex")}`
        yield* Effect.acquireRelease(
          Effect.promise(() =>
            manager.streams.add({ name: stream, subjects: [`${stream}.>`], retention: RetentionPolicy.Workqueue })
          ),
          () => Effect.promise(() => manager.streams.delete(stream))
        )
        const config = { durable_name: "worker", ack_policy: AckPolicy.Explicit, ack_wait: nanos(60_000) }
        yield* DurableConsumer.ensure(manager, stream, config)
        const options = { bufferSize: 16, heartbeat: "1 second" } as const

        // A loop that takes nothing, stopped while its pull is open (pulls wait up to 5 s).
        const first = yield* Effect.fork(
          DurableConsumer.run(jetstream, manager, stream, config, options, () => Effect.never)
        )
        yield* Effect.sleep("1 second")
        yield* Fiber.interrupt(first)
        yield* Effect.promise(() => jetstream.publish(`${stream}.greeting`, "hello"))

        const received = yield* Deferred.make<string>()
        const second = yield* Effect.fork(
          DurableConsumer.run(jetstream, manager, stream, config, options, ({ release, take }) =>
            Effect.forever(
              Effect.flatMap(take(1), (messages) =>
                Effect.forEach(messages, (msg) => {
                  release(msg)
                  msg.ack()
                  return Deferred.succeed(received, msg.string())
                }))
            ))
        )
        // Well inside the 60 s ack_wait: handed back by the stopped loop, not redelivered by the broker.
        const body = yield* Deferred.await(received).pipe(Effect.timeout("20 seconds"))
        expect(body).toBe("hello")
        yield* Fiber.interrupt(second)
      }).pipe(Effect.scoped),
    60_000
  )
})
