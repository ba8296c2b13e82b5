/**
 * A host whose clock runs 30 s ahead (CLOCK_OFFSET on its runner): the cluster, the slices it owns
 * and its delivery workers must not act on its wall clock. Invariants: nothing is acknowledged
 * before it is due, no key twice, every greeting is sent and ends `sent`, on both hosts' slices.
 */
import { describe, expect, it } from "vitest"
import {
  diagnose,
  greetingOutcome,
  openScenario,
  quantile,
  seconds,
  seedGreetings,
  short,
  slicesByRunner,
  startRunners,
  timeUntil
} from "./HostScenario.js"

const greetings = short ? 400 : 2_000
const spreadMs = 20_000

describe("runners on separate network hosts", () => {
  it("a host's clock runs 30 s ahead", async () => {
    const scenario = await openScenario(2)
    const { cluster, db } = scenario
    let keys: Array<string> = []
    const dueByKey = new Map<string, number>()
    try {
      const [normal, ahead] = cluster.lab.hosts
      const [, skewed] = await startRunners(scenario, [normal!])
        .then(async (first) => [...first, ...(await startRunners(scenario, [ahead!], { CLOCK_OFFSET: "30 seconds" }))])
        .catch(async () => {
          throw new Error(cluster.runnerOutput().slice(-4000))
        })
      const skewedSlices = (await slicesByRunner(db))[skewed!.address]!
      expect(skewedSlices.length).toBeGreaterThan(0)

      // Due from 40 s on: inside the skewed host's "past" only if it trusted its own clock.
      const start = Date.now() + 40_000
      const dues = Array.from({ length: greetings }, (_, i) => start + Math.floor((i * spreadMs) / greetings))
      keys = await seedGreetings(scenario, dues)
      keys.forEach((key, i) => dueByKey.set(key, dues[i]!))

      const allSent = await timeUntil("every greeting is acknowledged", start, async () => {
        const outcome = await greetingOutcome(scenario, keys, (key) => dueByKey.get(key)!)
        return outcome.missing.length === 0 && outcome.states.sent === keys.length
      }, 180_000)
      const outcome = await greetingOutcome(scenario, keys, (key) => dueByKey.get(key)!)
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM occurrences WHERE key = ANY($1::text[]) AND slice = ANY($2::int[])",
        [keys, skewedSlices]
      )
      const earliest = Math.min(...outcome.lateness)
      console.log(
        `[hosts] clock 30 s ahead (${short ? "short" : "full"} form: ${greetings} due over ${seconds(spreadMs)}, ` +
          `${rows[0]!.n} in the skewed host's slices): all acknowledged ${seconds(allSent)} after the first due; ` +
          `${outcome.early.length} early (earliest ${seconds(earliest)} from due); lateness p50 ${
            seconds(quantile(outcome.lateness, 0.5))
          } p99 ${seconds(quantile(outcome.lateness, 0.99))}`
      )
      expect(rows[0]!.n).toBeGreaterThan(0)
      expect(outcome.early).toEqual([])
      expect(outcome.missing).toEqual([])
      expect(outcome.duplicated).toEqual([])
      expect(outcome.states).toEqual({ sent: keys.length })
    } catch (error) {
      await diagnose(scenario, keys, (key) => dueByKey.get(key)!)
      throw error
    } finally {
      await scenario.close()
    }
  })
})
