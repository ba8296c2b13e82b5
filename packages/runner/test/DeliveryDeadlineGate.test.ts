/**
 * Nothing is sent after its deadline (product.md §8.3), even when a claimed occurrence waits in
 * the provider rate limit: before the send gate, 28 of these 40 were sent up to 5.7 s late.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { eventually, publishAll, seedOccurrences, stateCounts, withDelivery } from "./support/DeliveryHarness.js"

interface ReceivedMessage {
  readonly key: string
  readonly receivedAt: number
}

describe("DeliveryDeadlineGate", () => {
  it.live(
    "a claim that outwaits its deadline in the rate limit is recorded dead, never sent late",
    () =>
      withDelivery((baseUrl) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* seedOccurrences(40)
          // Due now, deadline 3 s ahead (a backlog item near the end of its late window), 5 sends/s.
          yield* sql`UPDATE occurrences SET deadline_at = now() + interval '3 seconds'`
          yield* publishAll(rows)
          yield* eventually(
            stateCounts,
            (c) => (c.sent ?? 0) + (c.expired ?? 0) + (c.dead ?? 0) === rows.length,
            60_000
          )
          const late = yield* sql<{ key: string }>`
          SELECT key FROM occurrences WHERE state = 'sent' AND sent_at > deadline_at`
          const body = yield* Effect.promise(() =>
            fetch(`${baseUrl}/messages?limit=1000`).then((r) =>
              r.json() as Promise<{ messages: Array<ReceivedMessage> }>
            )
          )
          const [{ deadline }] = yield* sql<{ deadline: number }>`
          SELECT (extract(epoch FROM max(deadline_at)) * 1000)::float8 AS deadline FROM occurrences`
          const counts = yield* stateCounts
          expect(late).toEqual([])
          expect(body.messages.filter((m) => m.receivedAt > deadline)).toEqual([])
          // Some were sent in time, the rest given up with the reason recorded.
          expect(counts.sent ?? 0).toBeGreaterThan(0)
          expect(counts.dead ?? 0).toBeGreaterThan(0)
          const unexplained = yield* sql<{ key: string }>`
          SELECT key FROM occurrences WHERE state = 'dead' AND last_error IS NULL`
          expect(unexplained).toEqual([])
        }), { settings: { providerRateLimit: 5, providerRateBurst: 1 } }),
    120_000
  )
})
