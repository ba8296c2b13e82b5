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
