/**
 * The email provider simulator as an Effect service: start it in-process as a scoped Layer
 * (port 0 for a random free port) and read the bound address from the `EmailSimulator` tag.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { ConfigError } from "effect/ConfigError"
import { resolve, SimulatorConfig, type SimulatorOverrides } from "./SimulatorConfig.js"
import * as SimulatorServer from "./SimulatorServer.js"

/** A running simulator: its address and live state. */
export class EmailSimulator extends Context.Tag("@birthday/email-sim/EmailSimulator")<
  EmailSimulator,
  SimulatorServer.RunningSimulator
>() {}

/** Starts a simulator with `overrides` on top of the defaults; it stops when the scope closes. */
export const start = (
  overrides?: SimulatorOverrides
): Effect.Effect<SimulatorServer.RunningSimulator, SimulatorServer.SimulatorListenError, Scope.Scope> =>
  SimulatorServer.start(resolve(overrides))

/** A simulator for the layer's lifetime, e.g. `layer({ port: 0, seed: 1 })` in tests. */
export const layer = (
  overrides?: SimulatorOverrides
): Layer.Layer<EmailSimulator, SimulatorServer.SimulatorListenError> => Layer.scoped(EmailSimulator, start(overrides))

/** A simulator configured from `EMAIL_SIM_*` through the active `ConfigProvider`. */
export const layerConfig: Layer.Layer<EmailSimulator, SimulatorServer.SimulatorListenError | ConfigError> = Layer
  .scoped(EmailSimulator, Effect.flatMap(SimulatorConfig, SimulatorServer.start))
