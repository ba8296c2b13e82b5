import { EmailSimAdmin } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { eventually, publishAll, seedOccurrences, stateCounts, withDelivery } from "./support/DeliveryHarness.js"

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

  it.live("a command queued ahead of its due time (SLICE_FIRE_AHEAD) waits in the queue, unclaimed, and is sent at its due time, not before", () =>
    withDelivery((baseUrl) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // Queued 3 s ahead, as a slice firing ahead does (or one whose clock reads ahead of this worker's).
        const rows = yield* seedOccurrences(20, { dueAgoMs: -3_000 })
        yield* publishAll(rows)
        // Until due, no worker holds them: a runner that stops meanwhile takes nothing with it.
        yield* Effect.sleep("1500 millis")
        expect(yield* stateCounts).toEqual({ enqueued: 20 })
        yield* eventually(stateCounts, (c) => c.sent === 20, 20_000)
        const early = yield* sql<{ key: string }>`SELECT key FROM occurrences WHERE sent_at < due_at`
        expect(early).toEqual([])
        const due = new Map(
          (yield* sql<{ key: string; due_at: Date }>`SELECT key, due_at FROM occurrences`).map((r) => [r.key, r.due_at])
        )
        const log = yield* EmailSimAdmin.allLog(baseUrl)
        expect(log).toHaveLength(20)
        expect(log.filter((entry) => entry.at < due.get(entry.key!)!.getTime())).toEqual([])
        const lateness = log.map((entry) => entry.at - due.get(entry.key!)!.getTime())
        console.log(`[delivery] queued 3 s ahead: sent ${Math.min(...lateness)}..${Math.max(...lateness)} ms after due`)
      })
    ))
})
