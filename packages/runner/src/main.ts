import { observabilityLayer } from "@birthday/telemetry/Observability"
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { RunnerLive } from "./RunnerLive.js"

RunnerLive.pipe(Layer.provide(observabilityLayer("birthday-runner")), Layer.launch, NodeRuntime.runMain)
