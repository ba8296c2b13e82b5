import { observabilityLayer } from "@birthday/server/Observability"
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { OffsetClockLive } from "./OffsetClock.js"
import { RunnerLive } from "./RunnerLive.js"

RunnerLive.pipe(
  Layer.provide(observabilityLayer("birthday-runner")),
  // CLOCK_OFFSET (test only): a host whose clock is skewed.
  Layer.provide(OffsetClockLive),
  Layer.launch,
  NodeRuntime.runMain
)
