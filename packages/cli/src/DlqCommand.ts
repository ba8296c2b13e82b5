import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { connectionOptions, instantOption, jsonOption, kindOption as kindOf, pagingOptions } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"

const actions = commandActions(() => import("./DlqActions.js"))

const kindOption = kindOf("Only this kind")

/** The options of each `dlq` command (DlqActions receives them parsed). */
export const dlqOptions = {
  list: {
    ...connectionOptions,
    json: jsonOption,
    ...pagingOptions,
    kind: kindOption,
    from: instantOption("from", "Due at or after this instant (ISO 8601)"),
    to: instantOption("to", "Due before this instant (ISO 8601)")
  },
  replay: {
    ...connectionOptions,
    json: jsonOption,
    kind: kindOption,
    from: instantOption("from", "Due at or after this instant (default: the beginning)"),
    to: instantOption("to", "Due before this instant (default: now)"),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Only count what would be replayed"))
  }
}

const listCommand = Command.make("list", dlqOptions.list, (args) => actions((dlq) => dlq.listDead(args))).pipe(
  Command.withDescription(
    withExamples("List dead occurrences (attempts or deadline exhausted) with their last error.", [
      "birthday dlq list",
      "birthday dlq list --kind birthday --json"
    ])
  )
)

const replayCommand = Command.make("replay", dlqOptions.replay, (args) => actions((dlq) => dlq.replayDead(args)))
  .pipe(Command.withDescription(withExamples(
    "Re-enqueue dead occurrences in bulk, by kind and due range; none is ever sent twice.",
    ["birthday dlq replay --dry-run", "birthday dlq replay --kind birthday --from 2027-03-01T00:00:00Z"]
  )))

/** `birthday dlq …` */
export const dlqCommand = Command.make("dlq").pipe(
  Command.withDescription("The dead-letter list: list, replay."),
  Command.withSubcommands([listCommand, replayCommand])
)
