/** `pnpm email-sim [--error-rate 0.3 ...]`: runs the simulator until SIGINT/SIGTERM. */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { EmailSimulator, layer } from "./EmailSimulator.js"
import { fromArgv, SimulatorConfig } from "./SimulatorConfig.js"

const announce = Layer.effectDiscard(Effect.gen(function*() {
  const simulator = yield* EmailSimulator
  yield* Effect.logInfo(`email simulator listening on ${simulator.baseUrl}`).pipe(
    Effect.annotateLogs({ ...simulator.state.settings() })
  )
}))

const Main = Layer.unwrapEffect(Effect.gen(function*() {
  const options = yield* Effect.withConfigProvider(SimulatorConfig, yield* fromArgv(process.argv.slice(2)))
  return announce.pipe(Layer.provideMerge(layer(options)))
}))

Layer.launch(Main).pipe(NodeRuntime.runMain)
