import { observabilityLayer } from "@birthday/server/Observability"
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { RunnerLive } from "./RunnerLive.js"

RunnerLive.pipe(Layer.provide(observabilityLayer("birthday-runner")), Layer.launch, NodeRuntime.runMain)
