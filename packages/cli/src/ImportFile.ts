import * as FileSystem from "@effect/platform/FileSystem"
import { Chunk, Effect, Either, Stream } from "effect"
import { CliFailure } from "./CliFailure.js"
import { hasOpenQuote, parseCsvRecord } from "./CsvRecord.js"

/** A record of the import file: the user's fields, or why the line could not be read. */
export type ImportItem =
  | { readonly _tag: "Row"; readonly line: number; readonly user: Record<string, unknown> }
  | { readonly _tag: "Unreadable"; readonly line: number; readonly reason: string }

/** An item and the characters of the file it accounts for (for progress). */
export interface ReadItem {
  readonly item: ImportItem
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

/**
 * A record reader fed the file's lines a chunk at a time. Its state (line number, CSV header, a
 * quoted field spanning lines) is mutable and private to one read of the file.
 */
const makeReader = (path: string, format: ImportFormat) => {
  let line = 0
  let columns: ReadonlyArray<string> | undefined
  let open: { line: number; text: string } | undefined
  // Characters of lines that yield no item (header, blanks, continued records) go with the next one.
  let carried = 0

  const feed = (lines: Chunk.Chunk<string>): Either.Either<Array<ReadItem>, string> => {
    const items: Array<ReadItem> = []
    for (const physical of lines) {
      line++
      carried += physical.length + 1
      if (format === "ndjson") {
        if (physical.trim() === "") continue
        items.push({ item: ndjsonItem(line, physical), chars: carried })
        carried = 0
        continue
      }
      const start = open?.line ?? line
      const text = open === undefined ? physical : `${open.text}\n${physical}`
      if (hasOpenQuote(text)) {
        open = { line: start, text }
        continue
      }
      open = undefined
      if (columns === undefined) {
        const header = checkHeader(path, text)
        if (Either.isLeft(header)) return Either.left(header.left)
        columns = header.right
        continue
      }
      if (text.trim() === "") continue
      items.push({ item: csvItem(columns, start, text), chars: carried })
      carried = 0
    }
    return Either.right(items)
  }

  const end = (): Array<ReadItem> =>
    open === undefined ? [] : [{
      item: { _tag: "Unreadable", line: open.line, reason: "CSV record has an unterminated quoted field" },
      chars: carried
    }]

  return { feed, end }
}

/**
 * Streams the records of an import file with their line numbers (the CSV header is line 1),
 * reading it in chunks: a file of any size is never held in memory whole.
 */
export const readImportFile = (path: string, format: ImportFormat) =>
  Effect.map(FileSystem.FileSystem, (fs) =>
    Stream.suspend(() => {
      const reader = makeReader(path, format)
      return fs.stream(path, { chunkSize: FileSystem.KiB(256) }).pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.mapChunksEffect((lines) =>
          Either.match(reader.feed(lines), {
            onLeft: (message) => Effect.fail(new CliFailure({ message })),
            onRight: (items) => Effect.succeed(Chunk.unsafeFromArray(items))
          })
        ),
        Stream.concat(Stream.suspend(() => Stream.fromIterable(reader.end()))),
        Stream.mapError((error) =>
          error instanceof CliFailure ? error : new CliFailure({ message: `cannot read ${path}: ${error.message}` })
        )
      )
    }))
