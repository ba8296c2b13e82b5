import * as HelpDoc from "@effect/cli/HelpDoc"

/** A command description with a summary and example invocations, shown by `--help`. */
export const withExamples = (summary: string, examples: ReadonlyArray<string>): HelpDoc.HelpDoc =>
  HelpDoc.blocks([
    HelpDoc.p(summary),
    HelpDoc.p("Examples:"),
    ...examples.map((example) => HelpDoc.p(`  $ ${example}`))
  ])
