import { Option, Schema } from "effect"
import { formatLocalDate, type LocalDateParts, localDateParts } from "./LocalDate.js"
import { type AnchorField, type LocalTime, type OccasionKind, OccasionKindName } from "./OccasionKind.js"

/**
 * The tzdata release this process computes with. Stored on every occurrence so that a runner
 * started with a different release knows which pending occurrences to recompute.
 */
export const tzdataVersion: string = process.versions.tz ?? "unknown"

/** One greeting of one kind to one user in one year; `key` identifies it everywhere. */
export const Occurrence = Schema.Struct({
  key: Schema.String,
  kind: OccasionKindName,
  userId: Schema.String,
  year: Schema.Int,
  /** The local date the greeting is sent on (`YYYY-MM-DD`), after Feb 29 and skipped-day rules. */
  localDate: Schema.String,
  /** Epoch milliseconds at which the kind's send time happens on `localDate` in the user's zone. */
  dueAt: Schema.Number,
  tzdata: Schema.String
}).annotations({ identifier: "Occurrence" })
export type Occurrence = typeof Occurrence.Type

/** What the calendar needs of a user: satisfied by `User` or any structural subset. */
export type OccasionSubject =
  & { readonly id: string; readonly timeZone: string }
  & { readonly [F in AnchorField]?: string | null | undefined }

/** The deterministic key of an occurrence: `{kind}:{userId}:{year}`. */
export const occurrenceKey = (kind: OccasionKindName, userId: string, year: number): string =>
  `${kind}:${userId}:${year}`

const minute = 60_000
const hour = 3_600_000
const day = 86_400_000

// Building an Intl.DateTimeFormat costs far more than using one, so each zone gets one, forever.
const formats = new Map<string, Intl.DateTimeFormat>()
const formatFor = (zone: string): Intl.DateTimeFormat => {
  let format = formats.get(zone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric"
    })
    formats.set(zone, format)
  }
  return format
}

// `format` plus a regex is about three times faster than `formatToParts` (measured on Node 20).
const formatted = /(\d+)\/(\d+)\/(\d+),? (\d+):(\d+):(\d+)/

/** The zone's offset from UTC in milliseconds at an instant. */
export const zoneOffset = (zone: string, instant: number): number => {
  const m = formatted.exec(formatFor(zone).format(instant))!
  const wall = Date.UTC(+m[3]!, +m[1]! - 1, +m[2]!, +m[4]!, +m[5]!, +m[6]!)
  return wall - Math.floor(instant / 1000) * 1000
}

/** An instant, and the wall-clock bounds of the gap it was moved past, if any. */
interface Resolution {
  readonly instant: number
  readonly gap: { readonly start: number; readonly end: number } | undefined
}

/**
 * Where a local wall time lands (`wall` = its fields read as if UTC). A wall time that exists once
 * or twice resolves to its (earlier) instant. One inside a gap resolves to the first valid instant
 * after it, i.e. the transition itself, as product.md rule 2 says; luxon and Temporal instead shift
 * it forward by the gap's length (02:30 → 03:30), which is why gap tests do not compare to luxon.
 */
const resolveWallTime = (zone: string, wall: number): Resolution => {
  // The instant lies within ±14 h of `wall`, so the offsets a day either side bracket it. tzdata
  // has no two changes within two days in the years we schedule, so equal offsets mean none.
  const before = zoneOffset(zone, wall - day)
  const after = zoneOffset(zone, wall + day)
  if (before === after) return { instant: wall - before, gap: undefined }
  // Earlier instant first: in an overlap both are valid and the earlier one wins.
  const [first, second] = before > after ? [before, after] : [after, before]
  if (zoneOffset(zone, wall - first) === first) return { instant: wall - first, gap: undefined }
  if (zoneOffset(zone, wall - second) === second) return { instant: wall - second, gap: undefined }
  // A gap: the clock jumped from `before` to `after` at an instant in (wall - after, wall - before].
  let lo = wall - after
  let hi = wall - before
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000
    if (zoneOffset(zone, mid) === before) lo = mid
    else hi = mid
  }
  return { instant: hi, gap: { start: hi + before, end: hi + after } }
}

const isLeapYear = (year: number): boolean => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)

const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeapYear(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31

const nextDay = ({ day, month, year }: LocalDateParts): LocalDateParts =>
  day < daysInMonth(year, month)
    ? { year, month, day: day + 1 }
    : month < 12
    ? { year, month: month + 1, day: 1 }
    : { year: year + 1, month: 1, day: 1 }

/** The local date an anchor falls on in a year, after the kind's Feb 29 policy. */
const observedDate = (kind: OccasionKind, anchor: LocalDateParts, year: number): LocalDateParts =>
  anchor.month === 2 && anchor.day === 29 && !isLeapYear(year)
    ? kind.feb29 === "mar1" ? { year, month: 3, day: 1 } : { year, month: 2, day: 28 }
    : { year, month: anchor.month, day: anchor.day }

/** The instant of the send time on a local date, moving past a skipped date to the next day. */
const sendInstant = (
  zone: string,
  date: LocalDateParts,
  sendTime: LocalTime
): { readonly date: LocalDateParts; readonly dueAt: number } => {
  // Calendar fields straight into wall-clock milliseconds: never a Date at UTC midnight.
  const midnight = Date.UTC(date.year, date.month - 1, date.day)
  const { gap, instant } = resolveWallTime(zone, midnight + sendTime.hour * hour + sendTime.minute * minute)
  if (gap !== undefined && gap.end >= midnight + day) {
    // A jump past midnight: a date skipped whole moves to the next day at the send time; otherwise
    // the first instant after the gap already falls on the next local day.
    return gap.start <= midnight ? sendInstant(zone, nextDay(date), sendTime) : { date: nextDay(date), dueAt: instant }
  }
  return { date, dueAt: instant }
}

/**
 * Millions of users share a few hundred thousand (zone, date, send time) triples, so resolved send
 * instants are kept: an import or a year of scheduling resolves each triple once instead of once per
 * user. Pure for a given tzdata release (one per process); bounded, cleared whole when full.
 */
const resolvedInstants = new Map<string, { readonly localDate: string; readonly dueAt: number }>()
const maxResolvedInstants = 250_000

const resolvedSendInstant = (zone: string, date: LocalDateParts, sendTime: LocalTime) => {
  const id = `${zone} ${date.year} ${date.month} ${date.day} ${sendTime.hour} ${sendTime.minute}`
  let resolved = resolvedInstants.get(id)
  if (resolved === undefined) {
    const { date: sendDate, dueAt } = sendInstant(zone, date, sendTime)
    if (resolvedInstants.size >= maxResolvedInstants) resolvedInstants.clear()
    resolvedInstants.set(id, resolved = { localDate: formatLocalDate(sendDate), dueAt })
  }
  return resolved
}

const occurrenceFor = (kind: OccasionKind, subject: OccasionSubject, anchor: LocalDateParts, year: number) => {
  const { dueAt, localDate } = resolvedSendInstant(subject.timeZone, observedDate(kind, anchor, year), kind.sendTime)
  const occurrence: Occurrence = {
    key: occurrenceKey(kind.name, subject.id, year),
    kind: kind.name,
    userId: subject.id,
    year,
    localDate,
    dueAt,
    tzdata: tzdataVersion
  }
  return occurrence
}

const anchorOf = (kind: OccasionKind, subject: OccasionSubject): LocalDateParts | undefined => {
  const anchor = subject[kind.anchor]
  return anchor ? localDateParts(anchor) : undefined
}

/** The occurrence of a kind in a given year, or none when the subject has no such date. */
export const occurrenceInYear = (
  kind: OccasionKind,
  subject: OccasionSubject,
  year: number
): Option.Option<Occurrence> => {
  const anchor = anchorOf(kind, subject)
  return anchor === undefined ? Option.none() : Option.some(occurrenceFor(kind, subject, anchor, year))
}

/** The first occurrence of a kind whose `dueAt` is strictly after `after` (epoch ms). */
export const nextOccurrence = (
  kind: OccasionKind,
  subject: OccasionSubject,
  after: number
): Option.Option<Occurrence> => {
  const anchor = anchorOf(kind, subject)
  if (anchor === undefined) return Option.none()
  const utcYear = new Date(after).getUTCFullYear()
  // Last year's occurrence can still be ahead during the first UTC days of a year (a Dec 31 or
  // skipped-day greeting west of UTC); later than Jan 3 it never is, which saves a computation.
  let year = after >= Date.UTC(utcYear, 0, 3) ? utcYear : utcYear - 1
  for (;;) {
    const occurrence = occurrenceFor(kind, subject, anchor, year)
    if (occurrence.dueAt > after) return Option.some(occurrence)
    year++
  }
}
