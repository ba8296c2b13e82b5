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
  describeKeys,
  diagnose,
  greetingOutcome,
  measureFailover,
  openScenario,
  quantile,
  readinessFromItsHost,
  seconds,
  seedGreetings,
  short,
  slicesByRunner,
  startRunners,
  timeUntil,
  waitForOwners
} from "./HostScenario.js"

const burst = short ? 500 : 2_000
const trickle = short ? 200 : 1_000
const partitionMs = short ? 60_000 : 120_000
// Messages a lost host's delivery worker had pulled come back after the consumer's ack_wait (30 s).
const redeliveryMs = 45_000

describe("runners on separate network hosts", () => {
  it("a host's link is cut while greetings are due, then restored", async () => {
    const scenario = await openScenario(2)
    const { cluster, db } = scenario
    let keys: Array<string> = []
    const dueByKey = new Map<string, number>()
    try {
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
      keys = await seedGreetings(scenario, dues)
      keys.forEach((key, i) => dueByKey.set(key, dues[i]!))

      while (Date.now() < cutAt) await new Promise((resolve) => setTimeout(resolve, 20))
      const cut = Date.now()
      cluster.lab.cutLink(lost!)

      const { locksFreed, ownedElsewhere, firstFired, lastFired, share } = await measureFailover(
        scenario,
        { lost: partitioned!, survivors: [survivor!], lostSlices, cut, burstDue }
      )
      // Every greeting due is sent before the link comes back.
      const burstSent = await timeUntil("the whole burst is acknowledged by the provider", cut, async () => {
        const outcome = await greetingOutcome(scenario, keys.slice(0, burst), (key) => dueByKey.get(key)!)
        return outcome.missing.length === 0
      }, partitionMs - (Date.now() - cut) - 1_000)
      // The cut-off runner knows it lost its lease: not ready, firing no slices.
      const lostReadiness = readinessFromItsHost(partitioned!)
      expect(lostReadiness).toMatchObject({ status: 503, body: { checks: { lease: "lost" }, slices: 0 } })
      const remaining = partitionMs - (Date.now() - cut)
      if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining))
      const duringPartition = await greetingOutcome(
        scenario,
        keys.filter((key) => dueByKey.get(key)! < Date.now() - redeliveryMs),
        (key) => dueByKey.get(key)!
      )
      expect(duringPartition.missing, await describeKeys(db, duringPartition.missing)).toEqual([])

      cluster.lab.restoreLink(lost!)
      const restored = Date.now()
      await waitForOwners(scenario, [survivor!, partitioned!], 120_000)
      const rejoined = Date.now() - restored

      await timeUntil("every greeting is acknowledged", restored, async () => {
        const outcome = await greetingOutcome(scenario, keys, (key) => dueByKey.get(key)!)
        return outcome.missing.length === 0 && (outcome.states.sent ?? 0) === keys.length
      }, 120_000)
      const outcome = await greetingOutcome(scenario, keys, (key) => dueByKey.get(key)!)
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
      expect(outcome.missing).toEqual([])
      expect(outcome.duplicated).toEqual([])
      expect(outcome.early).toEqual([])
      expect(outcome.states).toEqual({ sent: keys.length })
    } catch (error) {
      await diagnose(scenario, keys, (key) => dueByKey.get(key)!)
      throw error
    } finally {
      await scenario.close()
    }
  })
})
