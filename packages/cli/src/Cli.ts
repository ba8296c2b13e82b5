import * as Command from "@effect/cli/Command"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { CliFailure } from "./CliFailure.js"
import { clusterCommand } from "./ClusterCommand.js"
import { deliveriesCommand } from "./DeliveriesCommand.js"
import { dlqCommand } from "./DlqCommand.js"
import { ledgerCommand } from "./LedgerCommand.js"
import { occurrencesCommand } from "./OccurrencesCommand.js"
import { statsCommand } from "./StatsCommand.js"
import { usersCommand } from "./UsersCommand.js"

/** The `birthday` command tree. */
export const birthdayCommand = Command.make("birthday").pipe(
  Command.withDescription(
    "Operate the birthday scheduler. Every command takes --url (BIRTHDAY_URL) and --token (BIRTHDAY_TOKEN); " +
      "listings take --json."
  ),
  Command.withSubcommands([
    usersCommand,
    occurrencesCommand,
    deliveriesCommand,
    dlqCommand,
    clusterCommand,
    statsCommand,
    ledgerCommand
  ])
)

const runCommand = Command.run(birthdayCommand, { name: "birthday", version: "0.1.0" })

/**
 * Parses `argv` (as `process.argv`: node and script first) and runs the chosen command. A failed
 * command prints one `error: …` line on stderr; usage errors are printed by @effect/cli itself.
 */
export const runCli = (argv: ReadonlyArray<string>) =>
  runCommand(argv).pipe(
    Effect.tapError((error) => error instanceof CliFailure ? Console.error(`error: ${error.message}`) : Effect.void)
  )

/** 0 on success, 1 when the command failed, 2 on bad usage (or a defect). */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number =>
  Exit.isSuccess(exit)
    ? 0
    : Option.exists(Cause.failureOption(exit.cause), (error) => error instanceof CliFailure)
    ? 1
    : 2
