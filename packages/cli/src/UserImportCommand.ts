import { bulkImportLimits } from "@birthday/domain/BulkImportLimits"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { connectionOptions, defaults, jsonOption } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"

const actions = commandActions(() => import("./UserImportActions.js"))

/** The options and argument of `users import` (UserImportActions receives them parsed). */
export const importOptions = {
  ...connectionOptions,
  json: jsonOption,
  file: Args.file({ name: "FILE", exists: "yes" }).pipe(Args.withDescription("CSV (with header) or NDJSON file")),
  format: Options.choice("format", ["csv", "ndjson"]).pipe(
    Options.optional,
    Options.withDescription("File format (default: from the extension; .ndjson/.jsonl are NDJSON)")
  ),
  batchSize: Options.integer("batch-size").pipe(
    Options.withDefault(defaults.importBatchSize),
    Options.withDescription(`Rows per request (1–${bulkImportLimits.maxRows})`)
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDefault(defaults.importConcurrency),
    Options.withDescription("Requests in flight at once")
  )
}

/** `birthday users import FILE` */
export const userImportCommand = Command.make(
  "import",
  importOptions,
  (args) => actions((userImport) => userImport.importUsers(args))
).pipe(Command.withDescription(withExamples(
  "Import users from a CSV file (header: firstName,lastName,email,birthday,timeZone[,anniversary]) or NDJSON, " +
    "streamed in batches. Rows whose email is already taken are skipped, so re-running a file is safe; " +
    "invalid rows are reported with their line number (the header is line 1).",
  [
    "birthday users import people.csv",
    "birthday users import people.ndjson --json",
    "birthday users import big.csv --batch-size 5000"
  ]
)))
