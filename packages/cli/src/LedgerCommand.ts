import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { connectionOptions, jsonOption, wholeNumberOption } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"

const actions = commandActions(() => import("./LedgerActions.js"))

const seconds = (name: string, description: string) =>
  wholeNumberOption(name, 0).pipe(Options.optional, Options.withDescription(description))

/** The options of `ledger check` (LedgerActions receives them parsed). */
export const ledgerCheckOptions = {
  ...connectionOptions,
  json: jsonOption,
  limit: wholeNumberOption("limit", 0, 10_000).pipe(
    Options.withDefault(20),
    Options.withDescription("Offending rows listed per invariant, 0–10000")
  ),
  deadlineGrace: seconds("deadline-grace", "Seconds an open occurrence may be past its deadline (default 300)"),
  sendingGrace: seconds("sending-grace", "Seconds a sending occurrence may be past its lease (default 120)")
}

/** `birthday ledger check`: exits 1 when any invariant is violated. */
export const ledgerCommand = Command.make("ledger").pipe(
  Command.withDescription("Check the occurrence ledger."),
  Command.withSubcommands([
    Command.make("check", ledgerCheckOptions, (args) => actions((ledger) => ledger.checkLedger(args))).pipe(
      Command.withDescription(withExamples(
        "Every violated ledger invariant (product.md §8) with its count and offending keys; exit code 1 if any.",
        ["birthday ledger check", "birthday ledger check --json | jq '.violations[] | select(.count > 0)'"]
      ))
    )
  ])
)
