import { observabilityLayer } from "@birthday/server/Observability"
import { runRole } from "@birthday/server/RoleMain"
import { Effect, Layer } from "effect"
import { DeliveryConfig } from "./DeliveryConfig.js"
import { RunnerConfig } from "./RunnerConfig.js"
import { RunnerLive } from "./RunnerLive.js"

runRole(
  "birthday-runner",
  RunnerLive.pipe(Layer.provide(observabilityLayer("birthday-runner"))),
  Effect.map(Effect.all([RunnerConfig, DeliveryConfig]), ([runner, delivery]) => [
    { setting: "RUNNER_PORT", port: runner.runnerPort },
    { setting: "RUNNER_METRICS_PORT", port: delivery.metricsPort }
  ])
)
