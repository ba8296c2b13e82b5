/** A field name in an error is cut after this many characters (escapes included). */
export const maxFieldNameLength = 64

// Characters that would act on a terminal or a log viewer instead of showing (C0 and C1 controls,
// DEL, bidi marks, embeddings, overrides and isolates), and half of a surrogate pair, which is no
// character at all: each is shown as its JSON escape.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const escaped = /^(?:[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udfff])$/

/**
 * A field name (a path, or a key a client sent) as an error may show it: control characters,
 * bidi controls and lone surrogates escaped (`\u001b`), at most `maxFieldNameLength` characters,
 * then `…`. A 1 MB unknown key once came back twice in a 2 MB error, an ESC in one raw.
 */
export const fieldName = (text: string): string => {
  let shown = ""
  // By code point: a surrogate pair stays whole; a lone half comes alone and is escaped.
  for (const char of text) {
    const piece = escaped.test(char) ? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}` : char
    if (shown.length + piece.length > maxFieldNameLength) return `${shown}…`
    shown += piece
  }
  return shown
}
