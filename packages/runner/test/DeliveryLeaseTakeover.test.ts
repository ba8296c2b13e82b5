/**
 * A delivery worker paused (SIGSTOP) while it holds claims, whose leases another worker then takes
 * over, makes no provider call when it resumes: before the send gate, a thawed holder sent 31
 * greetings that the ledger had recorded dead, all after their deadline.
 */
import { EmailSimAdmin, EmailSimulator } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import {
  childProcess,
  eventually,
  infraLayer,
  publishAll,
  seedOccurrences,
  simulatorLayer,
  stateCounts,
  testRun,
  workersLayer
} from "./support/DeliveryHarness.js"

interface LogEntry {
  readonly at: number
  readonly key: string
  readonly outcome: string
}

describe("DeliveryLeaseTakeover", () => {
  it.live("a paused holder resumed after a takeover never calls the provider", () =>
    Effect.gen(function*() {
      const run = yield* testRun
      const infra = yield* Layer.build(infraLayer(run))
      const baseUrl = Context.get(yield* Layer.build(simulatorLayer()), EmailSimulator.EmailSimulator).baseUrl
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* seedOccurrences(60)
        yield* sql`UPDATE occurrences SET deadline_at = now() + interval '20 seconds'`
        const deadline = (yield* sql<
          { d: number }
        >`SELECT (extract(epoch FROM max(deadline_at)) * 1000)::float8 AS d FROM occurrences`)[0]!.d
        yield* publishAll(rows)
        const worker = yield* childProcess("packages/runner/test/fixtures/DeliveryWorkerProcess.ts", [], {
          ...run.env,
          EMAIL_SERVICE_URL: baseUrl,
          PROVIDER_RATE_LIMIT: "2",
          PROVIDER_RATE_BURST: "1",
          DELIVERY_ACK_WAIT: "3 seconds",
          RUNNER_METRICS_PORT: "0",
          LOG_LEVEL: "Warning"
        })
        yield* eventually(stateCounts, (c) => (c.sending ?? 0) >= 1, 120_000)
        worker.kill("SIGSTOP")
        const frozenAt = Date.now()
        yield* Layer.build(
          workersLayer(baseUrl, { ackWait: "3 seconds" as never }).pipe(Layer.provide(Layer.succeedContext(infra)))
        )
        yield* eventually(stateCounts, (c) => (c.sent ?? 0) + (c.expired ?? 0) + (c.dead ?? 0) === rows.length, 60_000)
        yield* Effect.sleep(Math.max(0, deadline + 2000 - Date.now()))
        worker.kill("SIGCONT")
        const thawedAt = Date.now()
        yield* Effect.sleep(15_000)
        const stats = yield* EmailSimAdmin.stats(baseUrl)
        const log = yield* Effect.promise(() =>
          fetch(`${baseUrl}/log?limit=10000`).then((r) => r.json() as Promise<{ entries: Array<LogEntry> }>)
        )
        const afterThaw = log.entries.filter((e) => e.at >= thawedAt)
        const afterDeadline = log.entries.filter((e) =>
          e.at > deadline && (e.outcome === "acknowledged" || e.outcome === "duplicate")
        )
        expect(thawedAt - frozenAt).toBeGreaterThan(3_000)
        // A request in flight at the pause may be resent by the new holder under the same key
        // (at-least-once attempts); the provider acknowledges each key once.
        const acknowledged = log.entries.filter((e) => e.outcome === "acknowledged").map((e) => e.key)
        expect(new Set(acknowledged).size).toBe(acknowledged.length)
        expect(stats.duplicatesRefused).toBeLessThanOrEqual(stats.acknowledged)
        expect(afterDeadline).toEqual([])
        expect(afterThaw).toEqual([])
      }).pipe(Effect.provide(infra))
    }).pipe(Effect.scoped), { timeout: 240_000 })
})
