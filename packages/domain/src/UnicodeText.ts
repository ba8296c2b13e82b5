/**
 * Rules about what a piece of text is made of, shared by every field that stores text and by the
 * HTTP edge, which applies the first of them to whole request bodies.
 */

// Half of a UTF-16 surrogate pair is no character. JSON can spell one ("\ud800"); Postgres refuses
// it in jsonb and the driver turns it into U+FFFD in text, so it must be refused, never stored.
const loneSurrogate = /\p{Cs}/u

/** Whether `text` holds half of a surrogate pair (text that is not valid Unicode). */
export const hasLoneSurrogate = (text: string): boolean => loneSurrogate.test(text)

/** `text` with each lone surrogate spelled as its JSON escape, to name it in an error. */
export const escapeLoneSurrogates = (text: string): string =>
  text.replace(/\p{Cs}/gu, (unit) => `\\u${unit.charCodeAt(0).toString(16)}`)

/** Length in characters (code points), not UTF-16 units: "𝒜" is one character. */
export const characterCount = (text: string): number => {
  let count = 0
  for (const _ of text) count++
  return count
}

// What shows nothing on its own: format characters (zero width space, bidi marks, tags), code
// points every renderer ignores (Hangul fillers, variation selectors, combining grapheme joiner),
// separators and spaces, combining marks without a base, and the braille blank (a "symbol" that
// is drawn as an empty cell, a favourite for names that look empty).
const invisible = /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Z}\p{M}\s\u2800]/gu

/** Whether `text` shows at least one character once everything invisible is taken away. */
export const hasVisibleCharacter = (text: string): boolean => text.replace(invisible, "").length > 0

// Embeddings, overrides and isolates reorder the text around them: "Ada\u202Eecalevol" reads as
// another name. Marks (U+200E/F, U+061C) only nudge neutral characters and stay allowed.
const bidiControl = /[\u202A-\u202E\u2066-\u2069]/u

/** Whether `text` holds a bidirectional embedding, override or isolate control. */
export const hasBidiControl = (text: string): boolean => bidiControl.test(text)

// Tag characters spell ASCII invisibly (text smuggled past a reader). Their one visible use is an
// emoji tag sequence: a black flag, tags, a cancel tag (the flag of Scotland).
const emojiTagSequence = /\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F}/gu
const tagCharacter = /[\u{E0000}-\u{E007F}]/u

/** Whether `text` holds tag characters outside an emoji tag sequence. */
export const hasHiddenTagCharacters = (text: string): boolean =>
  tagCharacter.test(text) && tagCharacter.test(text.replace(emojiTagSequence, ""))
