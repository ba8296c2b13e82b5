import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { connectionOptions, jsonOption, kindOption, pagingOptions, wholeNumberOption } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"

const actions = commandActions(() => import("./OccurrencesActions.js"))

/** The options of `occurrences upcoming` (OccurrencesActions receives them parsed). */
export const upcomingOptions = {
  ...connectionOptions,
  json: jsonOption,
  ...pagingOptions,
  // A pending occurrence is at most a year ahead: the next of each kind.
  hours: wholeNumberOption("hours", 1, 366 * 24).pipe(
    Options.withDefault(24),
    Options.withDescription("How far ahead to look, 1–8784")
  ),
  kind: kindOption("Only this kind")
}

/** `birthday occurrences upcoming`: pending greetings due in the next hours, across all users. */
const upcomingCommand = Command.make(
  "upcoming",
  upcomingOptions,
  (args) => actions((occurrences) => occurrences.listUpcoming(args))
).pipe(Command.withDescription(withExamples("Greetings due in the next N hours across all users, by due time.", [
  "birthday occurrences upcoming",
  "birthday occurrences upcoming --hours 2 --kind birthday --json"
])))

/** `birthday occurrences …` */
export const occurrencesCommand = Command.make("occurrences").pipe(
  Command.withDescription("Upcoming greetings."),
  Command.withSubcommands([upcomingCommand])
)
