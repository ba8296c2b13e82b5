/**
 * A partition between real network hosts: two runners, each in its own network namespace, one
 * host's link cut while greetings fall due (a burst 3 s after the cut, then a steady trickle),
 * then restored. Invariants: the other host takes the lost host's slices and sends every greeting
 * while the partition lasts (nothing waits for the lost host to come back), nothing is sent
 * before it is due, no key is acknowledged twice, every greeting ends `sent`, and the lost host
 * rejoins once its link is back. Figures printed: lock release, fail-over and lateness.
 */
import { describe, expect, it } from "vitest"
import {
  allSent,
  describeKeys,
  expectEachSentOnce,
  expectInvariants,
  greetingOutcome,
  measureFailover,
  quantile,
  readinessFromItsHost,
  seconds,
  short,
  slicesByRunner,
  startRunners,
  timeUntil,
  waitForOwners,
  withScenario
} from "./HostScenario.js"

const burst = short ? 500 : 2_000
const trickle = short ? 200 : 1_000
const partitionMs = short ? 60_000 : 120_000
// Messages a lost host's delivery worker had pulled come back after the consumer's ack_wait (30 s).
const redeliveryMs = 45_000

describe("runners on separate network hosts", () => {
  it("a host's link is cut while greetings are due, then restored", () =>
    withScenario(2, async (scenario, seeded) => {
      const { cluster, db } = scenario
      const keys = seeded.keys
      const dueOf = seeded.dueOf
      {
        const [stays, lost] = cluster.lab.hosts as [typeof cluster.lab.hosts[0], typeof cluster.lab.hosts[0]]
        const [survivor, partitioned] = await startRunners(scenario, [stays!, lost!])
        const before = await slicesByRunner(db)
        const lostSlices = before[partitioned!.address]!
        expect(lostSlices.length).toBeGreaterThan(0)

        const cutAt = Date.now() + 2_000
        const burstDue = cutAt + 3_000
        const dues = [
          ...Array.from({ length: burst }, () => burstDue),
          // A steady trickle over the partition, so greetings keep falling due while it lasts.
          ...Array.from(
            { length: trickle },
            (_, i) => burstDue + 1_000 + Math.floor((i * (partitionMs - 20_000)) / trickle)
          )
        ]
        await seeded.seed(scenario, dues)

        while (Date.now() < cutAt) await new Promise((resolve) => setTimeout(resolve, 20))
        const cut = Date.now()
        cluster.lab.cutLink(lost!)

        const { locksFreed, ownedElsewhere, firstFired, lastFired, share } = await measureFailover(
          scenario,
          { lost: partitioned!, survivors: [survivor!], lostSlices, cut, burstDue }
        )
        // Every greeting due is sent before the link comes back.
        const burstSent = await timeUntil("the whole burst is acknowledged by the provider", cut, async () => {
          const outcome = await greetingOutcome(scenario, keys.slice(0, burst), dueOf)
          return outcome.missing.length === 0
        }, partitionMs - (Date.now() - cut) - 1_000)
        // The cut-off runner knows it lost its lease: not ready, firing no slices.
        const lostReadiness = readinessFromItsHost(partitioned!)
        expect(lostReadiness).toMatchObject({ status: 503, body: { checks: { lease: "lost" }, slices: 0 } })
        const remaining = partitionMs - (Date.now() - cut)
        if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining))
        const duringPartition = await greetingOutcome(
          scenario,
          keys.filter((key) => dueOf(key) < Date.now() - redeliveryMs),
          dueOf
        )
        expect(duringPartition.missing, await describeKeys(db, duringPartition.missing)).toEqual([])

        cluster.lab.restoreLink(lost!)
        const restored = Date.now()
        await waitForOwners(scenario, [survivor!, partitioned!], 120_000)
        const rejoined = Date.now() - restored

        const { outcome } = await allSent(scenario, seeded, restored, 120_000)
        console.log(
          `[hosts] partition (${short ? "short" : "full"} form: ${burst} due 3 s after the cut, ${trickle} over ` +
            `${seconds(partitionMs)}): lost host's locks released ${seconds(locksFreed)} after the cut, its ` +
            `${lostSlices.length} slices held elsewhere after ${seconds(ownedElsewhere)}; its share of the burst ` +
            `(${share}) enqueued elsewhere ${seconds(firstFired)}..${
              seconds(lastFired)
            } after due; whole burst acknowledged ${seconds(burstSent)} after the cut; lateness p50 ${
              seconds(quantile(outcome.lateness, 0.5))
            } p99 ${seconds(quantile(outcome.lateness, 0.99))} max ${seconds(Math.max(...outcome.lateness))}; ` +
            `${outcome.resent} resent; rejoined ${seconds(rejoined)} after the link came back`
        )
        expectEachSentOnce(outcome)
        const { resentAfterFault } = await expectInvariants(scenario, [{ host: lost!, at: cut }])
        console.log(`[hosts] partition: ${resentAfterFault} request(s) in flight on the cut-off host resent`)
      }
    }))
})
