import { Either } from "effect"

/**
 * Whether a record's text has an open quoted field (it continues on the next physical line). It
 * reads quotes exactly as `parseCsvRecord` does: a quote opens a field only at the field's start,
 * so `O"Brien` is a literal quote, not an opening one that would swallow the following lines.
 */
export const hasOpenQuote = (text: string): boolean => {
  let quoted = false
  let atFieldStart = true
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (quoted) {
      if (char !== "\"") continue
      if (text[index + 1] === "\"") index++
      else quoted = false
    } else if (char === ",") atFieldStart = true
    else if (char === "\"" && atFieldStart) {
      quoted = true
      atFieldStart = false
    } else atFieldStart = false
  }
  return quoted
}

/**
 * Splits one CSV record (RFC 4180: commas, double-quoted fields, `""` inside quotes) into its
 * fields. Left is the reason when the quoting is broken.
 */
export const parseCsvRecord = (text: string): Either.Either<Array<string>, string> => {
  if (!text.includes("\"")) return Either.right(text.split(","))
  const fields: Array<string> = []
  let field = ""
  let index = 0
  let quoted = false
  while (index < text.length) {
    const char = text[index]!
    if (quoted) {
      if (char === "\"" && text[index + 1] === "\"") {
        field += "\""
        index += 2
        continue
      }
      if (char === "\"") {
        quoted = false
        if (index + 1 < text.length && text[index + 1] !== ",") {
          return Either.left(`has text after a closing quote at column ${index + 2}`)
        }
      } else field += char
    } else if (char === ",") {
      fields.push(field)
      field = ""
    } else if (char === "\"" && field.length === 0) {
      quoted = true
    } else field += char
    index++
  }
  if (quoted) return Either.left("has an unterminated quoted field")
  fields.push(field)
  return Either.right(fields)
}
