import { DatabaseTimeLive } from "@birthday/ledger/DatabaseTime"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { runRole } from "@birthday/telemetry/RoleMain"
import { Effect, Layer } from "effect"
import { DeliveryConfig } from "./DeliveryConfig.js"
import { RunnerConfig } from "./RunnerConfig.js"
import { RunnerLive } from "./RunnerLive.js"

runRole(
  "birthday-runner",
  RunnerLive.pipe(Layer.provide(DatabaseTimeLive), Layer.provide(observabilityLayer("birthday-runner"))),
  Effect.map(Effect.all([RunnerConfig, DeliveryConfig]), ([runner, delivery]) => [
    { setting: "RUNNER_PORT", port: runner.runnerPort },
    { setting: "RUNNER_METRICS_PORT", port: delivery.metricsPort }
  ])
)
