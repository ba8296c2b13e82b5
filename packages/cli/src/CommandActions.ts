import type * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"

/** What a command's handler receives: its options and arguments, parsed. */
export type ParsedArgs<Config extends Command.Command.Config> = Command.Command.ParseConfig<Config>

/**
 * A command module's actions, imported when one of its commands runs. The command tree (names,
 * options, help) is all `--help` needs; the actions bring the API's schemas and the HTTP client,
 * most of the CLI's code, so leaving them out of the start keeps `birthday --help` fast.
 */
export const commandActions = <Module>(load: () => Promise<Module>) => {
  const loaded = Effect.promise(load)
  return <A, E, R>(run: (actions: Module) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(loaded, run)
}
