import { Console, Effect, Schema } from "effect"
import { type Column, renderTable } from "./Table.js"

/** Prints a value as JSON, encoded by its schema (dates as ISO strings). */
export const printJson = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Schema.encode(schema)(value).pipe(
    Effect.orDie,
    Effect.flatMap((encoded) => Console.log(JSON.stringify(encoded, null, 2)))
  )

/** Prints rows as a table, or `(none)` when there are none. */
export const printTable = <A>(columns: ReadonlyArray<Column<A>>, rows: ReadonlyArray<A>, empty = "(none)") =>
  Console.log(rows.length === 0 ? empty : renderTable(columns, rows))
