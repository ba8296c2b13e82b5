import { LedgerState } from "@birthday/domain/LedgerState"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { connectionOptions, instantOption, jsonOption, kindOption, pagingOptions } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"

const actions = commandActions(() => import("./DeliveriesActions.js"))

const keyArg = Args.text({ name: "key" }).pipe(Args.withDescription("Occurrence key, {kind}:{userId}:{year}"))

/** The options and arguments of each `deliveries` command (DeliveriesActions receives them parsed). */
export const deliveryOptions = {
  list: {
    ...connectionOptions,
    json: jsonOption,
    ...pagingOptions,
    state: Options.choice("state", LedgerState.literals).pipe(Options.optional),
    kind: kindOption("Only this kind"),
    user: Options.text("user").pipe(Options.optional, Options.withDescription("Only this user's id")),
    from: instantOption("from", "Due at or after this instant (ISO 8601)"),
    to: instantOption("to", "Due before this instant (ISO 8601)")
  },
  show: { ...connectionOptions, json: jsonOption, key: keyArg }
}

const listCommand = Command.make(
  "list",
  deliveryOptions.list,
  (args) => actions((deliveries) => deliveries.listLedger(args))
).pipe(Command.withDescription(withExamples("List occurrences in the delivery ledger by due time.", [
  "birthday deliveries list --state sent --kind birthday",
  "birthday deliveries list --user <id> --json",
  "birthday deliveries list --from 2027-01-01T00:00:00Z --to 2027-01-02T00:00:00Z --all"
])))

const showCommand = Command.make(
  "show",
  deliveryOptions.show,
  (args) => actions((deliveries) => deliveries.showDelivery(args))
).pipe(Command.withDescription(withExamples("Show one occurrence with its attempt history.", [
  "birthday deliveries show birthday:<userId>:2027",
  "birthday deliveries show <key> --json"
])))

const replayCommand = Command.make(
  "replay",
  deliveryOptions.show,
  (args) => actions((deliveries) => deliveries.replayDelivery(args))
).pipe(Command.withDescription(withExamples(
  "Re-enqueue a dead, ambiguous or expired occurrence; it is never sent twice.",
  ["birthday deliveries replay birthday:<userId>:2027"]
)))

/** `birthday deliveries …` */
export const deliveriesCommand = Command.make("deliveries").pipe(
  Command.withDescription("Inspect and replay deliveries: list, show, replay."),
  Command.withSubcommands([listCommand, showCommand, replayCommand])
)
