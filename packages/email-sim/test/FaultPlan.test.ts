import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as FaultPlan from "../src/FaultPlan.js"
import * as SeededRandom from "../src/SeededRandom.js"
import { defaults } from "../src/SimulatorConfig.js"

const faults = (patch: Partial<FaultPlan.FaultSettings>): FaultPlan.FaultSettings => ({ ...defaults.faults, ...patch })

const tags = (settings: FaultPlan.FaultSettings, seed: number, n: number) => {
  const random = SeededRandom.make(seed)
  return Array.from({ length: n }, () => FaultPlan.decide(settings, FaultPlan.noOutage, 0, random)._tag)
}

describe("FaultPlan", () => {
  it.effect("a real rate limit admits a second's burst, then its rate; refusals use no capacity", () =>
    Effect.sync(() => {
      const gate = new FaultPlan.ThrottleGate()
      const admitted = (at: number, n: number) => Array.from({ length: n }, () => gate.admit(100, at)).filter(Boolean)
      expect(admitted(0, 150).length).toBe(101)
      // Half a second later: 50 more slots, whatever was refused meanwhile.
      expect(admitted(500, 100).length).toBe(50)
      expect(new FaultPlan.ThrottleGate().admit(0, 0)).toBe(true)
    }))

  it.effect("latency grows with the requests already in flight", () =>
    Effect.sync(() => {
      const settings = faults({ latencyMs: 20, latencyPerRequestMs: 30 })
      const delay = (inFlight: number) => {
        const decision = FaultPlan.decide(settings, FaultPlan.noOutage, 0, SeededRandom.make(1), inFlight)
        return decision._tag === "Deliver" ? decision.delayMs : -1
      }
      expect([delay(0), delay(1), delay(255)]).toEqual([20, 50, 7_670])
    }))

  it.effect("delivers everything with no faults", () =>
    Effect.sync(() => expect(new Set(tags(faults({}), 1, 1_000))).toEqual(new Set(["Deliver"]))))

  it.effect("draws faults in roughly the configured shares", () =>
    Effect.sync(() => {
      const decided = tags(faults({ errorRate: 0.3, timeoutRate: 0.1, rateLimitRate: 0.05 }), 3, 20_000)
      const share = (tag: string) => decided.filter((t) => t === tag).length / decided.length
      expect(share("Failed")).toBeCloseTo(0.3, 1)
      expect(share("Hung")).toBeCloseTo(0.1, 1)
      expect(share("RateLimited")).toBeCloseTo(0.05, 1)
    }))

  it.effect("replays the same decisions for the same seed and differs for another", () =>
    Effect.sync(() => {
      const settings = faults({ errorRate: 0.5, latencyJitterMs: 100 })
      expect(tags(settings, 9, 200)).toEqual(tags(settings, 9, 200))
      expect(tags(settings, 9, 200)).not.toEqual(tags(settings, 10, 200))
    }))

  it.effect("adds jitter within [latencyMs, latencyMs + jitter)", () =>
    Effect.sync(() => {
      const random = SeededRandom.make(5)
      const settings = faults({ latencyMs: 20, latencyJitterMs: 10 })
      for (let i = 0; i < 500; i++) {
        const decision = FaultPlan.decide(settings, FaultPlan.noOutage, 0, random)
        if (decision._tag !== "Deliver") throw new Error(decision._tag)
        expect(decision.delayMs).toBeGreaterThanOrEqual(20)
        expect(decision.delayMs).toBeLessThan(30)
      }
    }))

  it.effect("bounds outage windows by the injected time", () =>
    Effect.sync(() => {
      const random = SeededRandom.make(1)
      const until = FaultPlan.outageUntil({ forMs: 1_000 }, 5_000)
      expect(until).toBe(6_000)
      expect(FaultPlan.decide(faults({}), until, 5_999, random)._tag).toBe("Outage")
      expect(FaultPlan.decide(faults({}), until, 6_000, random)._tag).toBe("Deliver")
      expect(FaultPlan.outageUntil({}, 5_000)).toBe(Infinity)
      expect(FaultPlan.outageUntil({ untilMs: 9_000 }, 5_000)).toBe(9_000)
      expect(FaultPlan.outageUntil({ off: true }, 5_000)).toBe(FaultPlan.noOutage)
    }))

  it.effect("applies a partial update and keeps the other fields", () =>
    Effect.sync(() => {
      const next = FaultPlan.applyPatch(faults({ latencyMs: 5 }), { errorRate: 0.2, outage: { off: true } })
      expect(next).toEqual(faults({ latencyMs: 5, errorRate: 0.2 }))
    }))
})
