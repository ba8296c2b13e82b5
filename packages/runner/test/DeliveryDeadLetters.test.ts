import { EmailSimAdmin, EmailSimulator } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, DateTime, Effect, Layer } from "effect"
import { AckPolicy, nanos } from "nats"
import { DeadLetterMoverLive } from "../src/DeadLetterMover.js"
import { DeliveryStreamsLive } from "../src/DeliveryStreams.js"
import { Nats } from "../src/Nats.js"
import { startApiServer } from "./support/DeliveryApiServer.js"
import {
  eventually,
  infraLayer,
  publishAll,
  seedOccurrences,
  simulatorLayer,
  stateCounts,
  testRun,
  testSettings,
  workersLayer
} from "./support/DeliveryHarness.js"

describe("dead letters", () => {
  it.live("a permanent 4xx is dead with its error, listed, and sent once when replayed after the fix", () =>
    Effect.gen(function*() {
      const run = yield* testRun
      const infra = yield* Layer.build(infraLayer(run))
      const simulator = yield* Layer.build(simulatorLayer())
      const { baseUrl } = Context.get(simulator, EmailSimulator.EmailSimulator)
      yield* Layer.build(workersLayer(baseUrl).pipe(Layer.provide(Layer.succeedContext(infra))))
      const api = yield* startApiServer(run)
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* seedOccurrences(3)
        const broken = rows[0]!
        // The simulator answers 400 to an address it cannot parse: a permanent failure.
        yield* sql`UPDATE users SET email = 'not-an-address' WHERE id = ${broken.userId}`
        yield* publishAll(rows)
        yield* eventually(stateCounts, (c) => c.sent === 2 && c.dead === 1, 20_000)

        const dead = yield* api.client.deliveries.list({ urlParams: { state: "dead" } })
        expect(dead.items.map((d) => d.key)).toEqual([broken.key])
        expect(dead.items[0]!.lastError).toMatch(/^HTTP 400/)
        expect(dead.items[0]!.attempts).toBe(1)
        const detail = yield* api.client.deliveries.get({ path: { key: broken.key } })
        expect(detail.attempts.map((a) => [a.outcome, a.status])).toEqual([["permanent", 400]])

        // Paging: one item per page walks all three in dueAt/key order.
        const first = yield* api.client.deliveries.list({ urlParams: { limit: 2 } })
        expect(first.items).toHaveLength(2)
        const second = yield* api.client.deliveries.list({ urlParams: { limit: 2, cursor: first.nextCursor! } })
        expect(second.items).toHaveLength(1)
        expect(second.nextCursor).toBeNull()

        // Bulk dry run counts without touching anything.
        const range = {
          from: DateTime.unsafeMake(Date.now() - 3600_000),
          to: DateTime.unsafeMake(Date.now() + 3600_000)
        }
        const dry = yield* api.client.deliveries.replayBulk({ payload: { ...range, kind: "birthday", dryRun: true } })
        expect(dry).toMatchObject({ matched: 1, replayed: 0, dryRun: true })

        // A sent occurrence is never replayed.
        const refused = yield* api.client.deliveries.replay({ path: { key: rows[1]!.key } }).pipe(Effect.flip)
        expect(refused._tag).toBe("DeliveryNotReplayable")

        yield* sql`UPDATE users SET email = 'fixed@example.com' WHERE id = ${broken.userId}`
        const replayed = yield* api.client.deliveries.replay({ path: { key: broken.key } })
        expect(replayed).toMatchObject({ key: broken.key, state: "enqueued", replays: 1, published: true })
        yield* eventually(stateCounts, (c) => c.sent === 3, 20_000)
        // Replaying it again (bulk, and one by one) sends nothing more.
        const bulk = yield* api.client.deliveries.replayBulk({ payload: { ...range, states: ["dead", "ambiguous"] } })
        expect(bulk.replayed).toBe(0)
        yield* Effect.sleep("1 second")
        const stats = yield* EmailSimAdmin.stats(baseUrl)
        expect(stats.acknowledged).toBe(3)
        expect(stats.distinctKeys).toBe(3)
        const messages = yield* EmailSimAdmin.allMessages(baseUrl)
        expect(messages.filter((m) => m.key === broken.key).map((m) => m.email)).toEqual(["fixed@example.com"])
      }).pipe(Effect.provide(infra))
    }).pipe(Effect.scoped))

  it.live("defect 2: a message that exhausts max_deliver moves to the dead-letter subject; the ledger decides, not the broker", () =>
    Effect.gen(function*() {
      const run = yield* testRun
      const infra = yield* Layer.build(infraLayer(run))
      // Only the mover: a stand-in consumer that never acknowledges plays the stuck worker.
      yield* Layer.build(
        DeadLetterMoverLive.pipe(
          Layer.provide(DeliveryStreamsLive),
          Layer.provide(testSettings("http://127.0.0.1:9")),
          Layer.provide(Layer.succeedContext(infra))
        )
      )
      yield* Effect.gen(function*() {
        const { jetstream, manager, names } = yield* Nats
        const sql = yield* SqlClient.SqlClient
        const rows = yield* seedOccurrences(1)
        // The occurrence was rescheduled (an edit) after its command went out: it is pending, due later.
        yield* sql`UPDATE occurrences SET state = 'pending', due_at = now() + interval '1 day',
          deadline_at = now() + interval '3 days' WHERE key = ${rows[0]!.key}`
        yield* Effect.promise(() =>
          manager.consumers.add(names.deliveryStream, {
            durable_name: "stuck",
            ack_policy: AckPolicy.Explicit,
            ack_wait: nanos(300),
            max_deliver: 2
          })
        )
        yield* publishAll(rows)
        const consumer = yield* Effect.promise(() => jetstream.consumers.get(names.deliveryStream, "stuck"))
        // Two deliveries, then a pull that finds none: the server notices max_deliver and advises.
        for (let i = 0; i < 3; i++) {
          yield* Effect.promise(() => consumer.next({ expires: 2000 }))
        }
        const dlq = yield* eventually(
          Effect.promise(() => manager.streams.info(names.deadLetterStream)),
          (info) => info.state.messages === 1,
          20_000
        )
        expect(dlq.state.messages).toBe(1)
        const moved = yield* Effect.promise(() => manager.streams.getMessage(names.deadLetterStream, { seq: 1 }))
        expect(moved.subject).toBe(names.deadLetterSubject("birthday"))
        expect(moved.header.get("X-Deliveries")).toBe("2")
        expect(moved.header.get("traceparent")).not.toBe("")
        yield* eventually(
          Effect.promise(() => manager.streams.info(names.deliveryStream)),
          (info) => info.state.messages === 0,
          10_000
        )
        // The real, future occurrence is untouched: still pending, no error (it used to be marked dead).
        const [row] = yield* sql<{ state: string; last_error: string | null }>`
          SELECT state, last_error FROM occurrences WHERE key = ${rows[0]!.key}`
        expect(row).toEqual({ state: "pending", last_error: null })
      }).pipe(Effect.provide(infra))
    }).pipe(Effect.scoped))
})
