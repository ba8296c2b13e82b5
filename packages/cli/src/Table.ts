/** One column of a table: its header and how to read a cell from a row. */
export interface Column<A> {
  readonly header: string
  readonly cell: (row: A) => string
  readonly align?: "left" | "right"
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g

/**
 * Text made safe for a terminal: control characters (ESC above all: `ESC[2J` clears the screen)
 * and bidi overrides are shown as `\u001b`-style escapes instead of being obeyed.
 */
export const printable = (text: string): string =>
  text.replace(controlCharacters, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** Renders rows as a plain-text table with padded columns and a header rule. */
export const renderTable = <A>(columns: ReadonlyArray<Column<A>>, rows: ReadonlyArray<A>): string => {
  const cells = rows.map((row) => columns.map((column) => printable(column.cell(row))))
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
  return fields.map(([key, value]) => `${key.padEnd(width)}  ${printable(value)}`).join("\n")
}
