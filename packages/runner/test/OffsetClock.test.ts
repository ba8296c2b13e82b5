import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Effect, Layer } from "effect"
import { ClockOffsetConfig, offsetClock, OffsetClockLive } from "../src/OffsetClock.js"

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("OffsetClock", () => {
  it.effect("CLOCK_OFFSET parses ahead, behind and absent", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) => Effect.provide(ClockOffsetConfig, withEnv(env))
      expect(yield* read({ CLOCK_OFFSET: "30 seconds" })).toBe(30_000)
      expect(yield* read({ CLOCK_OFFSET: "-2 seconds" })).toBe(-2_000)
      expect(yield* read({})).toBe(0)
      const bad = yield* Effect.flip(read({ CLOCK_OFFSET: "soon" }))
      expect(String(bad)).toContain("CLOCK_OFFSET")
    }))

  it.live("the installed clock runs ahead by the offset", () =>
    Effect.gen(function*() {
      const real = Date.now()
      const shifted = yield* Clock.currentTimeMillis.pipe(
        Effect.provide(OffsetClockLive.pipe(Layer.provide(withEnv({ CLOCK_OFFSET: "30 seconds" }))))
      )
      expect(shifted - real).toBeGreaterThanOrEqual(30_000)
      expect(shifted - real).toBeLessThan(31_000)
      const behind = offsetClock(-5_000).unsafeCurrentTimeMillis() - Date.now()
      expect(behind).toBeLessThanOrEqual(-4_900)
      expect(behind).toBeGreaterThan(-5_100)
    }))
})
