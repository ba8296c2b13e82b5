/** `pnpm email-sim [--error-rate 0.3 ...]`: runs the simulator until SIGINT/SIGTERM. */
import { reportStartupFailure } from "@birthday/domain"
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

const options = Effect.flatMap(
  fromArgv(process.argv.slice(2)),
  (flags) => Effect.withConfigProvider(SimulatorConfig, flags)
)

const Main = Effect.flatMap(options, (settings) => Layer.launch(announce.pipe(Layer.provideMerge(layer(settings)))))

// A Ctrl-C under pnpm arrives twice; runMain listens for the first only (see server's RoleMain).
process.on("SIGINT", () => {})
process.on("SIGTERM", () => {})

NodeRuntime.runMain(
  Main.pipe(
    reportStartupFailure(
      "birthday-email-sim",
      Effect.map(options, (settings) => [{ setting: "EMAIL_SIM_PORT", port: settings.port }])
    )
  ),
  { disableErrorReporting: true }
)
