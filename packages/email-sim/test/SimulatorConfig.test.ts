import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { defaults, fromArgv, SimulatorConfig } from "../src/SimulatorConfig.js"

describe("SimulatorConfig", () => {
  it.effect("defaults to a fault-free simulator on 127.0.0.1:8025", () =>
    Effect.gen(function*() {
      const options = yield* Effect.withConfigProvider(SimulatorConfig, ConfigProvider.fromMap(new Map()))
      expect(options).toEqual(defaults)
    }))

  it.effect("reads EMAIL_SIM_* variables and ignores PORT/HOST", () =>
    Effect.gen(function*() {
      const env = new Map([
        ["PORT", "1"],
        ["HOST", "0.0.0.0"],
        ["EMAIL_SIM_PORT", "9000"],
        ["EMAIL_SIM_ERROR_RATE", "0.25"],
        ["EMAIL_SIM_SEED", "12"]
      ])
      const options = yield* Effect.withConfigProvider(SimulatorConfig, ConfigProvider.fromMap(env))
      expect(options).toMatchObject({ host: "127.0.0.1", port: 9000, seed: 12, faults: { errorRate: 0.25 } })
    }))

  it.effect("maps --flags onto the same settings", () =>
    Effect.gen(function*() {
      const provider = yield* fromArgv(["--error-rate", "0.3", "--latency-ms=15", "--port", "0"])
      const options = yield* Effect.withConfigProvider(SimulatorConfig, provider)
      expect(options).toMatchObject({ port: 0, faults: { errorRate: 0.3, latencyMs: 15 } })
    }))

  it.effect("refuses unknown flags and out-of-range rates", () =>
    Effect.gen(function*() {
      const unknown = yield* Effect.flip(fromArgv(["--eror-rate", "1"]))
      expect(unknown.message).toContain("--eror-rate")
      const provider = yield* fromArgv(["--timeout-rate", "1.5"])
      const error = yield* Effect.flip(Effect.withConfigProvider(SimulatorConfig, provider))
      expect(String(error)).toContain("between 0 and 1")
    }))
})
