/**
 * A rolling restart of three runners on three network hosts, one at a time (SIGTERM, wait for the
 * exit, start again, wait until it holds slices again), while greetings fall due at a steady rate.
 * Invariants: every greeting due during the restarts is sent once, none early, all end `sent`.
 * Figures printed: lateness p50/p99/max of those due during the restarts.
 */
import { describe, expect, it } from "vitest"
import {
  allSent,
  expectEachSentOnce,
  expectInvariants,
  quantile,
  seconds,
  short,
  startRunners,
  tolerant,
  waitForOwners,
  withScenario
} from "./HostScenario.js"

const perSecond = short ? 100 : 1_000
const windowMs = short ? 60_000 : 120_000
const leadMs = 10_000

describe("runners on separate network hosts", () => {
  it("a rolling restart of three runners under a steady load", () =>
    withScenario(3, async (scenario, seeded) => {
      const { cluster } = scenario
      const runners = await startRunners(scenario, cluster.lab.hosts, tolerant)
      expect(runners).toHaveLength(3)
      const start = Date.now() + leadMs
      const total = Math.floor((perSecond * windowMs) / 1000)
      await seeded.seed(scenario, Array.from({ length: total }, (_, i) => start + Math.floor((i * 1000) / perSecond)))
      while (Date.now() < start) await new Promise((resolve) => setTimeout(resolve, 50))

      const restarts: Array<number> = []
      const events: Array<string> = []
      const mark = (what: string) => events.push(`${what} ${seconds(Date.now() - start)}`)
      for (const host of cluster.lab.hosts) {
        const began = Date.now()
        mark("stop")
        await cluster.runnerOn(host).process.stop("SIGTERM", 30_000)
        mark("exited")
        cluster.startRunner(host, tolerant)
        await waitForOwners(scenario, cluster.runners)
        mark("owners")
        restarts.push(Date.now() - began)
      }
      const restartsEnd = Date.now()

      const { outcome } = await allSent(scenario, seeded, start, windowMs + 180_000)
      const duringRestarts = seeded.keys.flatMap((key) =>
        seeded.dueOf(key) < restartsEnd ? [outcome.latenessByKey.get(key)!] : []
      )
      console.log(
        `[hosts] rolling restart (${short ? "short" : "full"} form: ${perSecond} due/s for ${seconds(windowMs)}, ` +
          `${total} greetings): restarts took ${restarts.map(seconds).join(", ")}; lateness of those due during ` +
          `the restarts (${duringRestarts.length}) p50 ${seconds(quantile(duringRestarts, 0.5))} p99 ${
            seconds(quantile(duringRestarts, 0.99))
          } max ${seconds(Math.max(...duringRestarts))}; all ${outcome.lateness.length} (the whole run): p99 ${
            seconds(quantile(outcome.lateness, 0.99))
          } max ${seconds(Math.max(...outcome.lateness))}; ${outcome.resent} resent`
      )
      // Where the lateness went: firing (due → enqueued; negative: queued ahead, SLICE_FIRE_AHEAD) and
      // delivery (the later of due and enqueued → sent).
      const { rows } = await scenario.db.query(
        `SELECT extract(epoch from enqueued_at - due_at) * 1000 AS firing,
                extract(epoch from sent_at - greatest(due_at, enqueued_at)) * 1000 AS delivery
         FROM occurrences WHERE key = ANY($1::text[]) AND due_at < to_timestamp($2 / 1000.0)`,
        [seeded.keys, restartsEnd]
      )
      const split = (column: "firing" | "delivery") => rows.map((row) => Number(row[column]))
      // The worst seconds of due time, to place the lateness against the restart timeline.
      const bySecond = new Map<number, Array<number>>()
      for (const key of seeded.keys) {
        const second = Math.floor((seeded.dueOf(key) - start) / 1000)
        const late = outcome.latenessByKey.get(key)
        if (late !== undefined) bySecond.set(second, [...(bySecond.get(second) ?? []), late])
      }
      const worst = [...bySecond].map(([second, late]) => [second, Math.max(...late)] as const)
        .sort((a, b) => b[1] - a[1]).slice(0, 5)
      console.log(
        `[hosts] rolling restart: ${events.join(", ")} (s after the first due); firing p99 ${
          seconds(quantile(split("firing"), 0.99))
        }, delivery p99 ${seconds(quantile(split("delivery"), 0.99))}; worst seconds of due time: ${
          worst.map(([second, late]) => `${second} s (max ${seconds(late)})`).join(", ")
        }`
      )
      expectEachSentOnce(outcome)
      // Graceful stops: nothing in flight is abandoned, so nothing is resent.
      const { resentAfterFault } = await expectInvariants(scenario)
      expect(resentAfterFault).toBe(0)
    }))
})
