import { DatabaseTimeLive } from "@birthday/ledger/DatabaseTime"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { runRole } from "@birthday/telemetry/RoleMain"
import { Layer } from "effect"
import { RunnerLive } from "./RunnerLive.js"
import { runnerPorts } from "./RunnerStartSettings.js"

runRole(
  "birthday-runner",
  RunnerLive.pipe(Layer.provide(DatabaseTimeLive), Layer.provide(observabilityLayer("birthday-runner"))),
  runnerPorts
)
