import { clockOffsetLayer } from "@birthday/domain"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { RunnerConfig } from "./RunnerConfig.js"
import { RunnerLive } from "./RunnerLive.js"

/** `CLOCK_OFFSET` (tests only) moves the clock of everything the runner builds. */
const ClockLive = Layer.unwrapEffect(
  Effect.map(Effect.orDie(RunnerConfig), (config) => clockOffsetLayer(config.clockOffset))
)

RunnerLive.pipe(
  Layer.provide(ClockLive),
  Layer.provide(observabilityLayer("birthday-runner")),
  Layer.launch,
  NodeRuntime.runMain
)
