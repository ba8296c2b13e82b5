import { natsNames } from "@birthday/domain"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { AckPolicy, connect } from "nats"
import { randomBytes } from "node:crypto"
import { TestServer, testServerLayer } from "./support/TestServer.js"

const readyChecks = Effect.flatMap(TestServer, ({ client }) => client.health.ready())

describe("readiness", () => {
  it.live("reports NATS and the delivery consumer's backlog beside Postgres", () => {
    const prefix = `tready${randomBytes(4).toString("hex")}`
    const names = natsNames(prefix)
    return Effect.gen(function*() {
      const before = yield* readyChecks
      expect(before.status).toBe("ok")
      expect(before.checks.nats).toBe("ok")
      expect(before.checks.deliveryConsumer).toBe("not created yet (no runner has started)")

      // What a runner creates, and three commands waiting for it.
      const nc = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: "nats://127.0.0.1:4222" })),
        (nc) =>
          Effect.promise(async () => {
            const manager = await nc.jetstreamManager()
            await manager.streams.delete(names.deliveryStream).catch(() => false)
            await nc.close()
          })
      )
      yield* Effect.promise(async () => {
        const manager = await nc.jetstreamManager()
        await manager.streams.add({ name: names.deliveryStream, subjects: [names.deliverySubjects] })
        await manager.consumers.add(names.deliveryStream, {
          durable_name: names.deliveryConsumer,
          ack_policy: AckPolicy.Explicit
        })
        for (const key of ["a", "b", "c"]) {
          await nc.jetstream().publish(names.deliverySubject("birthday"), `{"key":"${key}"}`)
        }
      })
      const after = yield* readyChecks
      expect(after.checks.nats).toBe("ok")
      expect(after.checks.deliveryConsumer).toBe("3 pending, 0 in flight")
    }).pipe(Effect.provide(testServerLayer({ NATS_STREAM_PREFIX: prefix, READINESS_CACHE: "1 millis" })), Effect.scoped)
  })

  it.live("stays ready while NATS is unreachable, saying so", () =>
    Effect.gen(function*() {
      const ready = yield* readyChecks
      expect(ready.status).toBe("ok")
      expect(ready.checks.postgres).toBe("ok")
      expect(ready.checks.nats).toMatch(/^unreachable: /)
      expect(ready.checks.deliveryConsumer).toBe("unknown")
    }).pipe(Effect.provide(testServerLayer({ NATS_URL: "nats://127.0.0.1:1" })), Effect.scoped))
})
