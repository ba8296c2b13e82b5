import { LedgerCheckReport, type LedgerViolation } from "@birthday/domain/LedgerCheckApi"
import { Console, DateTime, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import { CliFailure } from "./CliFailure.js"
import type { ParsedArgs } from "./CommandActions.js"
import type { ledgerCheckOptions } from "./LedgerCommand.js"
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

/** `birthday ledger check`: fails (exit 1) when any invariant is violated. */
export const checkLedger = (
  { deadlineGrace, json, limit, sendingGrace, ...connection }: ParsedArgs<typeof ledgerCheckOptions>
) =>
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
