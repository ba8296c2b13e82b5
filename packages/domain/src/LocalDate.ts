import { Schema } from "effect"
import { daysInMonth } from "./CalendarFields.js"

const pattern = /^(\d{4})-(\d{2})-(\d{2})$/

export { daysInMonth } from "./CalendarFields.js"

/** The calendar fields of a date-only value; never a JS `Date`, so no zone can shift it. */
export interface LocalDateParts {
  readonly year: number
  readonly month: number
  readonly day: number
}

/** Splits a `YYYY-MM-DD` string that has already been validated. */
export const localDateParts = (date: string): LocalDateParts => ({
  year: Number(date.slice(0, 4)),
  month: Number(date.slice(5, 7)),
  day: Number(date.slice(8, 10))
})

/** Formats calendar fields as `YYYY-MM-DD`. */
export const formatLocalDate = ({ day, month, year }: LocalDateParts): string =>
  `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`

/** A date only (`YYYY-MM-DD`), year 1900 or later, a real calendar day. */
export const LocalDate = Schema.String.pipe(
  Schema.filter((value) => {
    const match = pattern.exec(value)
    if (!match) return "must be a date in YYYY-MM-DD form"
    const { day, month, year } = localDateParts(value)
    if (year < 1900) return "year must be 1900 or later"
    if (month < 1 || month > 12) return "month must be 01–12"
    if (day < 1 || day > daysInMonth(year, month)) return `${value} is not a calendar day`
    return true
  }),
  Schema.brand("LocalDate")
).annotations({
  identifier: "LocalDate",
  description: "A date only, YYYY-MM-DD (never an instant)",
  examples: ["1990-04-17" as never]
})
export type LocalDate = typeof LocalDate.Type
