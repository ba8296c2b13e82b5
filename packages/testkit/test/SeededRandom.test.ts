import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { dueSoon } from "../src/DueSoon.js"
import { latenessOf } from "../src/Invariants.js"
import { runTimedActions, seededRandom } from "../src/SeededRandom.js"

describe("seeded randomness and timing helpers", () => {
  it("the same seed gives the same sequence; values stay in range", () => {
    const a = seededRandom("a", 12345)
    const b = seededRandom("b", 12345)
    const first = Array.from({ length: 50 }, () => a.int(3, 9))
    expect(Array.from({ length: 50 }, () => b.int(3, 9))).toEqual(first)
    expect(first.every((n) => n >= 3 && n <= 9)).toBe(true)
    expect(new Set(first).size).toBeGreaterThan(3)
    const c = seededRandom("c", 7)
    const instants = Array.from({ length: 200 }, () => c.instantAround(1_000, 100, 50))
    expect(Math.min(...instants)).toBeGreaterThanOrEqual(900)
    expect(Math.max(...instants)).toBeLessThanOrEqual(1_050)
    expect(c.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5])
  })

  it("dueSoon picks the first whole UTC minute at least the lead ahead, and dates due then", () => {
    const now = Date.UTC(2026, 1, 28, 23, 59, 10)
    const plan = dueSoon(30_000, now)
    expect(plan.dueAt).toBe(Date.UTC(2026, 2, 1, 0, 0, 0))
    expect(plan.env).toEqual({ BIRTHDAY_SEND_TIME: "00:00", ANNIVERSARY_SEND_TIME: "00:00" })
    expect(plan.anchor()).toBe("1990-03-01")
    expect(dueSoon(0, Date.UTC(2026, 5, 1, 9, 0, 0)).dueAt).toBe(Date.UTC(2026, 5, 1, 9, 0, 0))
  })

  it("lateness percentiles are nearest-rank", () => {
    expect(latenessOf([])).toEqual({ samples: 0, p50Ms: null, p99Ms: null, maxMs: null })
    const values = Array.from({ length: 100 }, (_, i) => 100 - i)
    expect(latenessOf(values)).toEqual({ samples: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 })
  })

  it.live("timed actions run at their instants, concurrently, and record failures", () =>
    Effect.gen(function*() {
      const start = Date.now()
      const records = yield* runTimedActions([
        { at: start + 300, label: "late", run: Effect.void },
        { at: start + 100, label: "fails", run: Effect.fail("boom") },
        { at: start + 100, label: "slow", run: Effect.sleep(400) }
      ])
      expect(records.map((r) => r.label)).toEqual(["late", "fails", "slow"])
      expect(records[0]!.startedAt).toBeGreaterThanOrEqual(start + 300)
      // "slow" did not hold up "late".
      expect(records[0]!.startedAt).toBeLessThan(start + 500)
      expect(records[1]!.failed).toContain("boom")
      expect(records[2]!.failed).toBeNull()
    }))
})
