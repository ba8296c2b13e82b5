/**
 * The entry point of every role process: reads and checks all of the role's settings first, then
 * launches its layer until SIGINT/SIGTERM (exit 0); when either fails, it prints one line naming
 * the setting and the fix (the whole cause only with `LOG_LEVEL=debug` or `trace`) and exits 1.
 */
import { type PortSetting, reportStartupFailure } from "@birthday/domain"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"

/**
 * Runs `layer` as this process's role once `settings` (every setting the role reads, yielding the
 * ports it listens on by setting) are read: a bad setting is named before anything is bound or
 * waited for, and a taken port by the setting that holds it.
 */
export const runRole = <E>(
  role: string,
  layer: Layer.Layer<never, E>,
  settings: Effect.Effect<ReadonlyArray<PortSetting>, unknown>
): void => {
  keepDrainingOnRepeatedSignals()
  const noPorts = Effect.succeed<ReadonlyArray<PortSetting>>([])
  NodeRuntime.runMain(
    settings.pipe(
      reportStartupFailure(role, noPorts),
      Effect.flatMap((ports) => Layer.launch(layer).pipe(reportStartupFailure(role, Effect.succeed(ports))))
    ),
    { disableErrorReporting: true }
  )
}

/**
 * A Ctrl-C under `pnpm` arrives twice (the terminal's and pnpm's forwarded one) and runMain
 * listens for the first only: the second would kill the process mid-drain. Later ones are ignored.
 */
export const keepDrainingOnRepeatedSignals = (): void => {
  process.on("SIGINT", () => {})
  process.on("SIGTERM", () => {})
}
