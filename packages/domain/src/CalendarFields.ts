/**
 * The calendar's fields as text carries them, checked without a JS `Date` (which rolls
 * 2020-02-30 over to March 1). No imports: the CLI evaluates this at start for `--from`/`--to`.
 */

/** The days of `month` (1–12) in `year` of the proleptic Gregorian calendar. */
export const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month)
    ? 30
    : 31

// A date, then maybe a time, and a zone offset at the end: the fields checked by impossibleDateTime.
const dateTimeFields = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?/
const zoneOffsetField = /[+-](\d{2}):(\d{2})$/

/**
 * Why a text that begins with `YYYY-MM-DD` (then maybe `Thh:mm[:ss]` and a zone offset) names no
 * date and time that exists, if it does not: Date reads `2020-02-30` as March 1 and `T24:00` as
 * the next day, so each field is checked first. The API's instants and the CLI's `--from`/`--to`.
 */
export const impossibleDateTime = (text: string): string | undefined => {
  const fields = dateTimeFields.exec(text)
  if (fields === null) return undefined
  const [, year = "", month = "", day = "", hour, minute, second] = fields
  if (Number(month) < 1 || Number(month) > 12) return "month must be 01–12"
  if (Number(day) < 1 || Number(day) > daysInMonth(Number(year), Number(month))) {
    return `${year}-${month} has no day ${day}`
  }
  if (hour === undefined) return undefined
  if (Number(hour) > 23) return "hour must be 00–23"
  if (Number(minute) > 59) return "minute must be 00–59"
  if (second !== undefined && Number(second) > 59) return "second must be 00–59"
  const zone = zoneOffsetField.exec(text)
  if (zone !== null && (Number(zone[1]) > 23 || Number(zone[2]) > 59)) {
    return "zone offset must be from -23:59 to +23:59"
  }
  return undefined
}

/**
 * An ISO 8601 date-time with its zone designator: JavaScript's Date also reads "0", "May 5 2020"
 * and "2020-01-01T00:00" (in the host's zone) as instants. The API's instants and `--from`/`--to`.
 */
export const isoInstantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/

// Postgres and JavaScript disagree on the instants they can hold (JS reaches year -271821); the API
// speaks of years 1–9999 only.
/** The first instant the API takes: 0001-01-01T00:00:00Z, in epoch milliseconds. */
export const minInstantMillis = new Date(0).setUTCFullYear(1, 0, 1)
/** The last instant the API takes: 9999-12-31T23:59:59.999Z, in epoch milliseconds. */
export const maxInstantMillis = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
