/**
 * The entry point of every role process: reads and checks all of the role's settings first, then
 * launches its layer until SIGINT/SIGTERM (exit 0); when either fails, it prints one line naming
 * the setting and the fix (the whole cause only with `LOG_LEVEL=debug` or `trace`) and exits 1.
 */
import { type PortSetting, reportStartupFailure, StartupFailure } from "@birthday/domain"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:net"

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
      Effect.flatMap((ports) =>
        Effect.zipRight(portsFree(ports), Layer.launch(layer)).pipe(reportStartupFailure(role, Effect.succeed(ports)))
      )
    ),
    { disableErrorReporting: true }
  )
}

/**
 * Whether `port` on `host` is taken now (bound and closed at once). Only EADDRINUSE counts: any
 * other refusal (an address not on this host, a privileged port) is left to the real bind, whose
 * own error names it.
 */
const isTaken = (host: string | undefined, port: number) =>
  Effect.async<boolean>((resume) => {
    const probe = createServer()
    probe.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code === "EADDRINUSE")))
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resume(Effect.succeed(false))))
  })

/**
 * Every taken port named in one line before anything starts: a second runner on one host finds
 * both its cluster and its metrics port taken, and is told both settings at once, not one per try.
 */
const portsFree = (ports: ReadonlyArray<PortSetting>) =>
  Effect.gen(function*() {
    const taken: Array<PortSetting> = []
    for (const entry of ports) {
      if (entry.port > 0 && (yield* isTaken(entry.host, entry.port))) taken.push(entry)
    }
    if (taken.length === 0) return
    const settings = taken.map((entry) => entry.setting)
    return yield* new StartupFailure({
      problem: `${taken.length === 1 ? "port" : "ports"} ${
        taken.map((entry) => `${entry.host ?? "*"}:${entry.port}`).join(" and ")
      } ${taken.length === 1 ? "is" : "are"} taken, by another process of this kind perhaps`,
      setting: settings.join(", "),
      fix: `stop what listens there or set ${settings.join(" and ")} to free ports (README: several on one machine)`
    })
  })

/**
 * A Ctrl-C under `pnpm` arrives twice (the terminal's and pnpm's forwarded one) and runMain
 * listens for the first only: the second would kill the process mid-drain. Later ones are ignored.
 */
export const keepDrainingOnRepeatedSignals = (): void => {
  process.on("SIGINT", () => {})
  process.on("SIGTERM", () => {})
}
