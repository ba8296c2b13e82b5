/**
 * The delivery workers obey the ledger, not the broker: a command whose row moved on is dropped
 * at once, and a row whose command never reached the stream is found and sent.
 */
import { EmailSimAdmin } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Nats } from "../src/Nats.js"
import { eventually, publishAll, seedOccurrences, stateCounts, withDelivery } from "./support/DeliveryHarness.js"

describe("delivery fencing", () => {
  it.live("defect 2: a command for a rescheduled occurrence is acked and dropped at once, never nak'd", () =>
    withDelivery((baseUrl) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { manager, names } = yield* Nats
        const rows = yield* seedOccurrences(20)
        // An edit moved them a day later after their commands went out.
        yield* sql`UPDATE occurrences SET state = 'pending', due_at = now() + interval '1 day',
          deadline_at = now() + interval '3 days'`
        yield* publishAll(rows)
        const info = yield* eventually(
          Effect.promise(() => manager.consumers.info(names.deliveryStream, names.deliveryConsumer)),
          (i) => i.num_pending === 0 && i.num_ack_pending === 0 && i.delivered.stream_seq >= rows.length,
          20_000
        )
        // Each delivered once and acknowledged: no redelivery toward max_deliver.
        expect(info.num_redelivered).toBe(0)
        expect(yield* stateCounts).toEqual({ pending: 20 })
        expect((yield* EmailSimAdmin.stats(baseUrl)).acknowledged).toBe(0)
      })
    ))

  it.live("defect 7: an enqueued occurrence whose command never reached the stream is swept and sent once", () =>
    withDelivery((baseUrl) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* seedOccurrences(30)
        // Due and recorded enqueued a minute ago; the publish (or a bulk replay) died before the stream
        // saw it. (A row queued ahead of its due time counts as unclaimed only from its due time.)
        yield* sql`UPDATE occurrences SET updated_at = now() - interval '1 minute', due_at = now() - interval '1 minute'`
        yield* eventually(stateCounts, (c) => c.sent === rows.length, 60_000)
        const stats = yield* EmailSimAdmin.stats(baseUrl)
        expect([stats.acknowledged, stats.distinctKeys]).toEqual([rows.length, rows.length])
      })
    ))
})
