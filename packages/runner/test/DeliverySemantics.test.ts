import { EmailSimAdmin, EmailSimulator } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import {
  eventually,
  infraLayer,
  publishAll,
  seedOccurrences,
  simulatorLayer,
  stateCounts,
  testRun,
  workersLayer
} from "./support/DeliveryHarness.js"

/** Runs `body` with a fresh database, streams, simulator and running workers. */
const withDelivery = <A, E>(
  body: (baseUrl: string) => Effect.Effect<A, E, SqlClient.SqlClient | import("../src/Nats.js").Nats>,
  faults: Parameters<typeof simulatorLayer>[0] = {}
) =>
  Effect.gen(function*() {
    const run = yield* testRun
    const infra = yield* Layer.build(infraLayer(run))
    const simulator = yield* Layer.build(simulatorLayer(faults))
    const { baseUrl } = Context.get(simulator, EmailSimulator.EmailSimulator)
    yield* Layer.build(workersLayer(baseUrl).pipe(Layer.provide(Layer.succeedContext(infra))))
    return yield* body(baseUrl).pipe(Effect.provide(infra))
  }).pipe(Effect.scoped)

describe("delivery semantics", () => {
  it.live("sends each enqueued occurrence once and records it sent", () =>
    withDelivery((baseUrl) =>
      Effect.gen(function*() {
        const rows = yield* seedOccurrences(50)
        yield* publishAll(rows)
        yield* eventually(stateCounts, (c) => c.sent === 50, 20_000)
        const stats = yield* EmailSimAdmin.stats(baseUrl)
        expect(stats.distinctKeys).toBe(50)
        expect(stats.acknowledged).toBe(50)
        const messages = yield* EmailSimAdmin.allMessages(baseUrl)
        expect(messages[0]!.message).toMatch(/^Hey, Ada Lovelace [0-9a-f]{4} it's your birthday$/)
      })
    ))

  it.live("a redelivered or republished command for a sent key is not sent again", () =>
    withDelivery((baseUrl) =>
      Effect.gen(function*() {
        const rows = yield* seedOccurrences(5)
        yield* publishAll(rows)
        yield* eventually(stateCounts, (c) => c.sent === 5, 20_000)
        // Same msgID inside the dedupe window (dropped by JetStream), and a new msgID (reaches the worker).
        yield* publishAll(rows)
        yield* publishAll(rows, (row) => `${row.key}:again`)
        yield* Effect.sleep("1500 millis")
        const stats = yield* EmailSimAdmin.stats(baseUrl)
        expect(stats.received).toBe(5)
        expect(stats.acknowledged).toBe(5)
        expect(stats.duplicatesRefused).toBe(0)
        expect((yield* stateCounts).sent).toBe(5)
      })
    ))

  it.live("a user deleted after enqueue is not sent and the occurrence is cancelled", () =>
    withDelivery((baseUrl) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* seedOccurrences(3)
        yield* sql`UPDATE users SET deleted_at = now() WHERE id = ${rows[0]!.userId}`
        yield* publishAll(rows)
        yield* eventually(stateCounts, (c) => c.sent === 2 && c.cancelled === 1, 20_000)
        const messages = yield* EmailSimAdmin.allMessages(baseUrl)
        expect(messages.map((m) => m.key)).not.toContain(rows[0]!.key)
        const [row] = yield* sql<{ state: string }>`SELECT state FROM occurrences WHERE key = ${rows[0]!.key}`
        expect(row!.state).toBe("cancelled")
      })
    ))
})
