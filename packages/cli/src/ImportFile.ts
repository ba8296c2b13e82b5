import { FileSystem } from "@effect/platform"
import { Effect, Either, Option, Stream } from "effect"
import { CliFailure } from "./CliFailure.js"
import { hasOpenQuote, parseCsvRecord } from "./CsvRecord.js"

/** A record of the import file: the user's fields, or why the line could not be read. */
export type ImportItem =
  | { readonly _tag: "Row"; readonly line: number; readonly user: Record<string, unknown> }
  | { readonly _tag: "Unreadable"; readonly line: number; readonly reason: string }

/** An item and the characters of the file it consumed (for progress). */
export interface ReadItem {
  readonly item: Option.Option<ImportItem>
  readonly chars: number
}

export type ImportFormat = "csv" | "ndjson"

const requiredColumns = ["firstName", "lastName", "email", "birthday", "timeZone"] as const
const knownColumns = new Set<string>([...requiredColumns, "anniversary"])
const expected = "firstName,lastName,email,birthday,timeZone[,anniversary]"

/** The format named by the file's extension: `.ndjson`/`.jsonl` are NDJSON, anything else CSV. */
export const formatOf = (path: string): ImportFormat => /\.(nd)?jsonl?$/i.test(path) ? "ndjson" : "csv"

const checkHeader = (path: string, text: string) => {
  const header = parseCsvRecord(text.replace(/^\uFEFF/, ""))
  if (Either.isLeft(header)) return Either.left(`the header of ${path} ${header.left}`)
  const columns = header.right.map((name) => name.trim())
  const unknown = columns.find((name) => !knownColumns.has(name))
  if (unknown !== undefined) {
    return Either.left(`unknown column "${unknown}" in the header of ${path} (expected ${expected})`)
  }
  const missing = requiredColumns.filter((name) => !columns.includes(name))
  if (missing.length > 0) return Either.left(`the header of ${path} lacks ${missing.join(", ")} (expected ${expected})`)
  if (new Set(columns).size !== columns.length) return Either.left(`the header of ${path} repeats a column`)
  return Either.right(columns)
}

const csvItem = (columns: ReadonlyArray<string>, line: number, text: string): ImportItem => {
  const cells = parseCsvRecord(text)
  if (Either.isLeft(cells)) return { _tag: "Unreadable", line, reason: `CSV record ${cells.left}` }
  if (cells.right.length !== columns.length) {
    return {
      _tag: "Unreadable",
      line,
      reason: `has ${cells.right.length} fields, the header has ${columns.length}`
    }
  }
  const user: Record<string, unknown> = {}
  columns.forEach((name, index) => {
    const value = cells.right[index]!
    // An empty optional cell means "no anniversary", not an empty date.
    if (!(name === "anniversary" && value.trim() === "")) user[name] = value
  })
  return { _tag: "Row", line, user }
}

const ndjsonItem = (line: number, text: string): ImportItem => {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? { _tag: "Row", line, user: value as Record<string, unknown> }
      : { _tag: "Unreadable", line, reason: "is not a JSON object" }
  } catch (error) {
    return { _tag: "Unreadable", line, reason: `is not valid JSON: ${(error as Error).message}` }
  }
}

interface ReaderState {
  readonly line: number
  readonly columns: ReadonlyArray<string> | undefined
  /** A CSV record whose quoted field spans lines: its first line number and text so far. */
  readonly open: { readonly line: number; readonly text: string } | undefined
}

const end = Symbol("end")

/**
 * Streams the records of an import file with their line numbers (the CSV header is line 1),
 * reading it in chunks: a file of any size is never held in memory whole.
 */
export const readImportFile = (path: string, format: ImportFormat) =>
  Effect.map(FileSystem.FileSystem, (fs) =>
    fs.stream(path, { chunkSize: FileSystem.KiB(256) }).pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.concat(Stream.make(end)),
      Stream.mapAccumEffect(
        { line: 0, columns: undefined, open: undefined } as ReaderState,
        (state, physical): Effect.Effect<readonly [ReaderState, ReadItem], CliFailure> => {
          if (physical === end) {
            const item = state.open === undefined ? Option.none() : Option.some<ImportItem>({
              _tag: "Unreadable",
              line: state.open.line,
              reason: "CSV record has an unterminated quoted field"
            })
            return Effect.succeed([state, { item, chars: 0 }])
          }
          const line = state.line + 1
          const chars = physical.length + 1
          if (format === "ndjson") {
            const item = physical.trim() === "" ? Option.none() : Option.some(ndjsonItem(line, physical))
            return Effect.succeed([{ ...state, line }, { item, chars }])
          }
          const start = state.open?.line ?? line
          const text = state.open === undefined ? physical : `${state.open.text}\n${physical}`
          if (hasOpenQuote(text)) {
            return Effect.succeed([{ ...state, line, open: { line: start, text } }, { item: Option.none(), chars }])
          }
          const next: ReaderState = { ...state, line, open: undefined }
          if (state.columns === undefined) {
            return Either.match(checkHeader(path, text), {
              onLeft: (message) => Effect.fail(new CliFailure({ message })),
              onRight: (columns) => Effect.succeed([{ ...next, columns }, { item: Option.none(), chars }] as const)
            })
          }
          const item = text.trim() === "" ? Option.none() : Option.some(csvItem(state.columns, start, text))
          return Effect.succeed([next, { item, chars }])
        }
      ),
      Stream.mapError((error) =>
        error instanceof CliFailure ? error : new CliFailure({ message: `cannot read ${path}: ${error.message}` })
      )
    ))
