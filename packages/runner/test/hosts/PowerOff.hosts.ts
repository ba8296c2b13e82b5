/**
 * A host powered off: its processes frozen (SIGSTOP), its link gone, then killed, so no FIN or
 * RST ever reaches Postgres, NATS or the other runner. Invariants: the survivor takes the lost
 * host's slices and sends every greeting due (a burst 3 s after the power-off and a trickle after
 * it), nothing before it is due, no key twice, every greeting ends `sent`. Figures printed.
 */
import { describe, expect, it } from "vitest"
import {
  allSent,
  expectEachSentOnce,
  expectInvariants,
  measureFailover,
  quantile,
  seconds,
  short,
  slicesByRunner,
  startRunners,
  withScenario
} from "./HostScenario.js"

const burst = short ? 500 : 2_000
const trickle = short ? 100 : 500
const trickleMs = 20_000

describe("runners on separate network hosts", () => {
  it("a host is powered off while greetings are due", () =>
    withScenario(2, async (scenario, seeded) => {
      const { cluster, db } = scenario
      const [stays, lost] = cluster.lab.hosts
      const [survivor, victim] = await startRunners(scenario, [stays!, lost!])
      const lostSlices = (await slicesByRunner(db))[victim!.address]!
      expect(lostSlices.length).toBeGreaterThan(0)

      const offAt = Date.now() + 2_000
      const burstDue = offAt + 3_000
      await seeded.seed(scenario, [
        ...Array.from({ length: burst }, () => burstDue),
        ...Array.from({ length: trickle }, (_, i) => burstDue + 1_000 + Math.floor((i * trickleMs) / trickle))
      ])

      while (Date.now() < offAt) await new Promise((resolve) => setTimeout(resolve, 20))
      const off = Date.now()
      await cluster.lab.powerOff(lost!)
      expect(cluster.lab.pids(lost!)).toEqual([])

      const failover = await measureFailover(scenario, {
        lost: victim!,
        survivors: [survivor!],
        lostSlices,
        cut: off,
        burstDue
      })
      const { outcome, took } = await allSent(scenario, seeded, off, 180_000)
      console.log(
        `[hosts] power-off (${short ? "short" : "full"} form: ${burst} due 3 s after, ${trickle} over ${
          seconds(trickleMs)
        }): locks released ${seconds(failover.locksFreed)} after, its ${lostSlices.length} slices held elsewhere ` +
          `after ${seconds(failover.ownedElsewhere)}; its share of the burst (${failover.share}) enqueued elsewhere ${
            seconds(failover.firstFired)
          }..${seconds(failover.lastFired)} after due; all acknowledged ${seconds(took)} after the power-off; ` +
          `lateness p50 ${seconds(quantile(outcome.lateness, 0.5))} p99 ${seconds(quantile(outcome.lateness, 0.99))} ` +
          `max ${seconds(Math.max(...outcome.lateness))}; ${outcome.resent} resent`
      )
      expectEachSentOnce(outcome)
      const { resentAfterFault } = await expectInvariants(scenario, [{ host: lost!, at: off }])
      console.log(`[hosts] power-off: ${resentAfterFault} request(s) in flight on the lost host resent`)
    }))
})
