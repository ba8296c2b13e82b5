import { clockOffsetLayer } from "@birthday/domain"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { runRole } from "@birthday/telemetry/RoleMain"
import { Effect, Layer } from "effect"
import { DeliveryConfig } from "./DeliveryConfig.js"
import { RunnerConfig } from "./RunnerConfig.js"
import { RunnerLive } from "./RunnerLive.js"

/** `CLOCK_OFFSET` (tests only) moves the clock of everything the runner builds. */
const ClockLive = Layer.unwrapEffect(
  Effect.map(Effect.orDie(RunnerConfig), (config) => clockOffsetLayer(config.clockOffset))
)

runRole(
  "birthday-runner",
  RunnerLive.pipe(Layer.provide(ClockLive), Layer.provide(observabilityLayer("birthday-runner"))),
  Effect.map(Effect.all([RunnerConfig, DeliveryConfig]), ([runner, delivery]) => [
    { setting: "RUNNER_PORT", port: runner.runnerPort },
    { setting: "RUNNER_METRICS_PORT", port: delivery.metricsPort }
  ])
)
