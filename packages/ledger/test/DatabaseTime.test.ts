import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { bestReading, correctedClock, maxHoldMs } from "../src/DatabaseTime.js"

describe("DatabaseTime", () => {
  it("trusts the reading with the shortest round trip", () => {
    expect(bestReading([])).toBeUndefined()
    expect(
      bestReading([
        { aheadMs: -29_000, roundTripMs: 40 },
        { aheadMs: -30_000, roundTripMs: 2 },
        { aheadMs: -31_000, roundTripMs: 80 }
      ])
    ).toEqual({ aheadMs: -30_000, roundTripMs: 2 })
  })

  it.effect("a host clock 30 s ahead, corrected by the database's reading, tells database time", () =>
    Effect.gen(function*() {
      let hostClock = 1_000_030_000
      let correction = 0
      const clock = correctedClock(() => hostClock, () => correction, 0)
      expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_030_000)
      // The database says 1_000_000_000: the host is 30 s ahead.
      correction = -30_000
      expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_000_000)
      hostClock += 5
      expect(yield* clock.currentTimeMillis).toBe(1_000_000_005)
      expect(clock.unsafeCurrentTimeNanos()).toBe(1_000_000_005_000_000n)
    }))

  it.effect("CLOCK_OFFSET moves database time, as it moved the host's clock", () =>
    Effect.gen(function*() {
      const year = 365 * 86_400_000
      const clock = correctedClock(() => 1_000_030_000, () => -30_000, year)
      const now = yield* Effect.withClock(Clock.currentTimeMillis, clock)
      expect(now).toBe(1_000_000_000 + year)
    }))

  it("a better reading that moves the clock back a little holds it still instead: never backwards", () => {
    let hostClock = 1_000_000_000
    let correction = 0
    const clock = correctedClock(() => hostClock, () => correction, 0)
    expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_000_000)
    // A slice fired at this instant; then a reading with a shorter round trip moves the clock 120 ms back.
    correction = -120
    hostClock += 20
    expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_000_000)
    hostClock += 100
    expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_000_000)
    hostClock += 30
    expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_000_030)
    // A correction past maxHoldMs is a clock fault: the clock steps.
    correction -= maxHoldMs + 500
    expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_000_030 - maxHoldMs - 500)
  })

  it("tells whole milliseconds, rounded down, whatever fraction a reading's correction has", () => {
    const clock = correctedClock(() => 1_000_000_720, () => 0.6, 0)
    expect(clock.unsafeCurrentTimeMillis()).toBe(1_000_000_720)
    expect(new Date(clock.unsafeCurrentTimeMillis()).getTime()).toBe(clock.unsafeCurrentTimeMillis())
    expect(correctedClock(() => 1_000_000_720, () => -0.4, 0).unsafeCurrentTimeMillis()).toBe(1_000_000_719)
  })
})
