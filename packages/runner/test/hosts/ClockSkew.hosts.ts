/**
 * A host whose clock runs 30 s ahead (`CLOCK_SKEW`: the host's wall clock is wrong, as when its
 * NTP broke) beside a host with a right clock, while greetings fall due on both hosts' slices.
 * Invariants: nothing is sent before it is due (the fast host would fire its slices 30 s early on
 * its own clock; it runs on database time), every greeting is sent once and ends `sent`, and
 * deadlines are judged on database time too (none expired). Figures printed.
 */
import { describe, expect, it } from "vitest"
import {
  allSent,
  expectEachSentOnce,
  expectInvariants,
  quantile,
  seconds,
  short,
  slicesByRunner,
  startRunners,
  tolerant,
  waitForOwners,
  withScenario
} from "./HostScenario.js"

const skewMs = 30_000
const greetings = short ? 300 : 1_000
const spreadMs = 20_000

describe("runners on separate network hosts", () => {
  it("a host whose clock runs 30 s ahead sends nothing early", () =>
    withScenario(2, async (scenario, seeded) => {
      const { cluster, db } = scenario
      const [right, fast] = cluster.lab.hosts
      const [onRight] = await startRunners(scenario, [right!], tolerant)
      const onFast = cluster.startRunner(fast!, { ...tolerant, CLOCK_SKEW: `${skewMs} millis` })
      await waitForOwners(scenario, [onRight!, onFast])
      const owners = await slicesByRunner(db)
      expect(owners[onRight!.address]?.length ?? 0).toBeGreaterThan(0)
      expect(owners[onFast.address]?.length ?? 0).toBeGreaterThan(0)

      // Due from 10 s ahead over 20 s: inside the fast host's 30 s lead, so on its own clock
      // every one of its slices' greetings would already be due.
      const first = Date.now() + 10_000
      await seeded.seed(
        scenario,
        Array.from({ length: greetings }, (_, i) => first + Math.floor((i * spreadMs) / greetings))
      )
      const { outcome, took } = await allSent(scenario, seeded, first, 120_000)
      console.log(
        `[hosts] clock skew (${short ? "short" : "full"} form: ${greetings} due over ${seconds(spreadMs)}, one host ` +
          `${seconds(skewMs)} ahead): all acknowledged ${seconds(took)} after the first was due; ` +
          `lateness p50 ${seconds(quantile(outcome.lateness, 0.5))} p99 ${seconds(quantile(outcome.lateness, 0.99))} ` +
          `min ${seconds(Math.min(...outcome.lateness))}; ${outcome.early.length} early`
      )
      expectEachSentOnce(outcome)
      const { resentAfterFault } = await expectInvariants(scenario)
      expect(resentAfterFault).toBe(0)
    }))
})
