/**
 * The entry point of every role process: launches its layer until SIGINT/SIGTERM (exit 0) and,
 * when it fails, prints one line naming the setting and the fix (the whole cause only with
 * `LOG_LEVEL=debug` or `trace`) and exits 1.
 */
import { type PortSetting, reportStartupFailure } from "@birthday/domain"
import { NodeRuntime } from "@effect/platform-node"
import { type Effect, Layer } from "effect"

/** Runs `layer` as this process's role; `ports` names the settings of the ports it listens on. */
export const runRole = <E>(
  role: string,
  layer: Layer.Layer<never, E>,
  ports: Effect.Effect<ReadonlyArray<PortSetting>, unknown>
): void => {
  keepDrainingOnRepeatedSignals()
  NodeRuntime.runMain(Layer.launch(layer).pipe(reportStartupFailure(role, ports)), { disableErrorReporting: true })
}

/**
 * A Ctrl-C under `pnpm` arrives twice (the terminal's and pnpm's forwarded one) and runMain
 * listens for the first only: the second would kill the process mid-drain. Later ones are ignored.
 */
export const keepDrainingOnRepeatedSignals = (): void => {
  process.on("SIGINT", () => {})
  process.on("SIGTERM", () => {})
}
