import { bulkImportLimits } from "@birthday/domain/BulkImportLimits"
import { FieldIssue } from "@birthday/domain/Errors"
import { BulkImportResult, RejectedRow } from "@birthday/domain/ImportApi"
import * as FileSystem from "@effect/platform/FileSystem"
import { Chunk, Console, Effect, Option, Schema, Stream } from "effect"
import { type ApiClient, withApiClient } from "./ApiClient.js"
import { CliFailure } from "./CliFailure.js"
import type { ParsedArgs } from "./CommandActions.js"
import { formatOf, type ImportFormat, readImportFile, type ReadItem } from "./ImportFile.js"
import { makeImportProgress } from "./ImportProgress.js"
import { printJson } from "./Output.js"
import { printable } from "./Table.js"
import type { importOptions } from "./UserImportCommand.js"

/** What `users import` reports. */
export class ImportSummary extends Schema.Class<ImportSummary>("ImportSummary")({
  file: Schema.String,
  rows: Schema.Int,
  created: Schema.Int,
  skipped: Schema.Int,
  rejected: Schema.Array(RejectedRow),
  seconds: Schema.Number
}) {}

const sendBatch = (client: ApiClient, batch: ReadonlyArray<ReadItem>) =>
  Effect.gen(function*() {
    const rows = []
    const rejected: Array<RejectedRow> = []
    for (const { item } of batch) {
      // The server validates every field; the wire type of a row is permissive on purpose.
      if (item._tag === "Row") rows.push({ line: item.line, user: item.user as never })
      else {
        const reason = item.reason
        rejected.push(RejectedRow.make({
          line: item.line,
          message: `Line ${reason}`,
          fields: [new FieldIssue({ field: "line", reason })]
        }))
      }
    }
    const result = rows.length === 0
      ? BulkImportResult.make({ created: 0, skipped: 0, rejected: [] })
      : yield* client.imports.bulk({ payload: { rows } })
    const chars = batch.reduce((sum, read) => sum + read.chars, 0)
    return { result, local: rejected, rows: rows.length + rejected.length, chars }
  })

/** Streams the file to `POST /users/bulk` in batches, a few in flight, and sums the outcome. */
const importFile = (client: ApiClient, path: string, format: ImportFormat, batchSize: number, concurrency: number) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const size = yield* fs.stat(path).pipe(
      Effect.map((info) => Number(info.size)),
      Effect.mapError((error) => new CliFailure({ message: `cannot read ${path}: ${error.message}` }))
    )
    const progress = yield* makeImportProgress(size)
    const records = yield* readImportFile(path, format)
    const totals = yield* records.pipe(
      Stream.grouped(batchSize),
      Stream.mapEffect((batch) => sendBatch(client, Chunk.toReadonlyArray(batch)), { concurrency }),
      Stream.tap(({ chars, rows }) => progress.advance(rows, chars)),
      Stream.runFold(
        { created: 0, skipped: 0, rejected: [] as Array<RejectedRow> },
        (totals, { local, result }) => {
          totals.created += result.created
          totals.skipped += result.skipped
          totals.rejected.push(...local, ...result.rejected)
          return totals
        }
      )
    )
    const { elapsedMs, rows } = yield* progress.finish
    return ImportSummary.make({
      file: path,
      rows,
      created: totals.created,
      skipped: totals.skipped,
      rejected: totals.rejected.sort((a, b) => a.line - b.line),
      seconds: elapsedMs / 1000
    })
  })

const printSummary = (summary: ImportSummary) =>
  Effect.gen(function*() {
    const rate = summary.seconds > 0 ? Math.round(summary.rows / summary.seconds) : summary.rows
    yield* Console.log(
      `Imported ${summary.file}: ${summary.created} created, ${summary.skipped} skipped (email already taken), ` +
        `${summary.rejected.length} rejected — ${summary.rows} rows in ${summary.seconds.toFixed(1)} s (${rate} rows/s)`
    )
    if (summary.rejected.length === 0) return
    yield* Console.log("Rejected rows:")
    for (const row of summary.rejected) yield* Console.log(`  line ${row.line}: ${printable(row.message)}`)
  })

/** `birthday users import FILE` */
export const importUsers = (
  { batchSize, concurrency, file, format, json, ...connection }: ParsedArgs<typeof importOptions>
) =>
  Effect.gen(function*() {
    if (batchSize < 1 || batchSize > bulkImportLimits.maxRows) {
      return yield* new CliFailure({ message: `--batch-size must be from 1 to ${bulkImportLimits.maxRows}` })
    }
    if (concurrency < 1 || concurrency > 16) {
      return yield* new CliFailure({ message: "--concurrency must be from 1 to 16" })
    }
    const chosen = Option.getOrElse(format, () => formatOf(file))
    const summary = yield* withApiClient(
      connection,
      (client) => importFile(client, file, chosen, batchSize, concurrency)
    )
    yield* json ? printJson(ImportSummary, summary) : printSummary(summary)
    // A partial import is not a success: scripts must be able to tell.
    if (summary.rejected.length > 0) {
      return yield* new CliFailure({ message: `${summary.rejected.length} row(s) rejected (listed above)` })
    }
  })
