import { LedgerCheckReport, type LedgerViolation } from "@birthday/domain"
import { Command, Options } from "@effect/cli"
import { Console, DateTime, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { CliFailure } from "./CliFailure.js"
import { withExamples } from "./CommandHelp.js"
import { printJson, printTable } from "./Output.js"

const printReport = (report: LedgerCheckReport) =>
  Effect.gen(function*() {
    yield* printTable<LedgerViolation>([
      { header: "INVARIANT", cell: (violation) => violation.kind },
      { header: "VIOLATIONS", cell: (violation) => String(violation.count), align: "right" },
      { header: "MEANING", cell: (violation) => violation.description }
    ], report.violations)
    for (const violation of report.violations.filter((v) => v.count > 0)) {
      const more = violation.count - violation.samples.length
      yield* Console.log(
        `\n${violation.kind} (${violation.count}${more > 0 ? `, first ${violation.samples.length}` : ""}):`
      )
      yield* printTable([
        { header: "KEY", cell: (sample) => sample.key ?? `user ${sample.userId}` },
        { header: "STATE", cell: (sample) => sample.state ?? "-" },
        { header: "DETAIL", cell: (sample) => sample.detail }
      ], violation.samples)
    }
    yield* Console.log(
      `\n${report.clean ? "clean" : `${report.violationCount} violations`}: ${report.users} live users, ` +
        `${report.occurrences} occurrences, as of ${DateTime.formatIso(report.checkedAt)}`
    )
  })

const seconds = (name: string, description: string) =>
  Options.integer(name).pipe(Options.optional, Options.withDescription(description))

/** `birthday ledger check`: exits 1 when any invariant is violated. */
export const ledgerCommand = Command.make("ledger").pipe(
  Command.withDescription("Check the occurrence ledger."),
  Command.withSubcommands([
    Command.make(
      "check",
      {
        ...connectionOptions,
        json: jsonOption,
        limit: Options.integer("limit").pipe(
          Options.withDefault(20),
          Options.withDescription("Offending rows listed per invariant")
        ),
        deadlineGrace: seconds("deadline-grace", "Seconds an open occurrence may be past its deadline (default 300)"),
        sendingGrace: seconds("sending-grace", "Seconds a sending occurrence may be past its lease (default 120)")
      },
      ({ deadlineGrace, json, limit, sendingGrace, ...connection }) =>
        withApiClient(connection, (client) =>
          client.ledger.check({
            urlParams: {
              limit,
              ...Option.match(deadlineGrace, { onNone: () => ({}), onSome: (s) => ({ deadlineGraceSeconds: s }) }),
              ...Option.match(sendingGrace, { onNone: () => ({}), onSome: (s) => ({ sendingGraceSeconds: s }) })
            }
          })).pipe(
            Effect.tap((report) => json ? printJson(LedgerCheckReport, report) : printReport(report)),
            Effect.flatMap((report) =>
              report.clean
                ? Effect.void
                : Effect.fail(new CliFailure({ message: `ledger check found ${report.violationCount} violations` }))
            )
          )
    ).pipe(Command.withDescription(withExamples(
      "Every violated ledger invariant (product.md §8) with its count and offending keys; exit code 1 if any.",
      ["birthday ledger check", "birthday ledger check --json | jq '.violations[] | select(.count > 0)'"]
    )))
  ])
)
