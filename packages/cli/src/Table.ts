/** One column of a table: its header and how to read a cell from a row. */
export interface Column<A> {
  readonly header: string
  readonly cell: (row: A) => string
  readonly align?: "left" | "right"
}

/** Renders rows as a plain-text table with padded columns and a header rule. */
export const renderTable = <A>(columns: ReadonlyArray<Column<A>>, rows: ReadonlyArray<A>): string => {
  const cells = rows.map((row) => columns.map((column) => column.cell(row)))
  const widths = columns.map((column, index) =>
    Math.max(column.header.length, ...cells.map((line) => line[index]!.length))
  )
  const format = (line: ReadonlyArray<string>) =>
    line.map((cell, index) =>
      columns[index]!.align === "right" ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!)
    ).join("  ").trimEnd()
  return [
    format(columns.map((column) => column.header)),
    format(widths.map((width) => "-".repeat(width))),
    ...cells.map(format)
  ].join("\n")
}

/** Renders a record as aligned `key  value` lines. */
export const renderFields = (fields: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...fields.map(([key]) => key.length))
  return fields.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join("\n")
}
