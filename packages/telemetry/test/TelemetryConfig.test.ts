import { describeStartupFailure } from "@birthday/domain"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import { MaintenanceTracing, observabilityLayer } from "../src/Observability.js"

const withSettings = (settings: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings))))

/** The one line a role prints when its telemetry cannot start with `settings`. */
const startFailure = (settings: Record<string, string>) =>
  Effect.gen(function*() {
    const exit = yield* Layer.build(observabilityLayer("test")).pipe(Effect.scoped, withSettings(settings), Effect.exit)
    return Exit.isFailure(exit) ? describeStartupFailure(exit.cause) : undefined
  })

describe("TelemetryConfig", () => {
  it.effect("a TRACE_MAINTENANCE_RATIO that is not a number from 0 to 1 fails the start, naming it", () =>
    Effect.gen(function*() {
      for (const bad of ["abc", "1.5", "-0.1", "50%"]) {
        const line = yield* startFailure({ TRACE_MAINTENANCE_RATIO: bad })
        expect(line, bad).toMatch(/^invalid setting TRACE_MAINTENANCE_RATIO: .*; fix it or unset it for the default$/)
        expect(line).not.toContain("\n")
      }
    }))

  it.effect("a valid ratio is what maintenance rounds use; none traced by default", () =>
    Effect.gen(function*() {
      const ratioWith = (settings: Record<string, string>) =>
        MaintenanceTracing.pipe(Effect.provide(observabilityLayer("test")), withSettings(settings))
      expect(yield* ratioWith({ TRACE_MAINTENANCE_RATIO: "0.25" })).toEqual({ ratio: 0.25 })
      expect(yield* ratioWith({ TRACE_MAINTENANCE_RATIO: "1" })).toEqual({ ratio: 1 })
      expect(yield* ratioWith({})).toEqual({ ratio: 0 })
      expect(yield* MaintenanceTracing).toEqual({ ratio: 0 })
    }))

  it.effect("a bad LOG_LEVEL names LOG_LEVEL", () =>
    Effect.gen(function*() {
      expect(yield* startFailure({ LOG_LEVEL: "loud" })).toMatch(/^invalid setting LOG_LEVEL: must be one of all, /)
    }))
})
