import { occasionKindsWith, occurrenceInYear } from "@birthday/domain"
import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { type ChainRow, chainViolations, closesYear } from "../src/LedgerChain.js"

const kinds = occasionKindsWith({})
const anniversary = kinds.byName.anniversary
const user = {
  id: "00000000-0000-4000-8000-000000000001",
  birthday: "1990-03-10",
  anniversary: "2015-06-01",
  timeZone: "UTC"
}
// 2030-05-01: this year's anniversary (06-01) is still ahead.
const now = Date.UTC(2030, 4, 1)

const rowOf = (year: number, state: string, attempts: number): ChainRow => {
  const occurrence = Option.getOrThrow(occurrenceInYear(anniversary, user, year))
  return {
    key: occurrence.key,
    kind: "anniversary",
    year,
    state,
    attempts,
    localDate: occurrence.localDate,
    dueMs: occurrence.dueAt
  }
}
const birthday = (() => {
  const occurrence = Option.getOrThrow(occurrenceInYear(kinds.byName.birthday, user, 2031))
  return {
    key: occurrence.key,
    kind: "birthday",
    year: 2031,
    state: "pending",
    attempts: 0,
    localDate: occurrence.localDate,
    dueMs: occurrence.dueAt
  }
})()

describe("LedgerChain", () => {
  it("a cancelled row closes its year only when it was attempted", () => {
    expect(closesYear({ state: "cancelled", attempts: 0 })).toBe(false)
    expect(closesYear({ state: "cancelled", attempts: 1 })).toBe(true)
    expect(closesYear({ state: "retrying", attempts: 1 })).toBe(true)
    expect(closesYear({ state: "pending", attempts: 0 })).toBe(false)
  })

  it("an attempted, cancelled year is followed by next year's occurrence without a violation", () => {
    // Anniversary removed while retrying (attempted once), then re-added: the ledger schedules 2031.
    const rows = [rowOf(2029, "sent", 1), rowOf(2030, "cancelled", 1), rowOf(2031, "pending", 0), birthday]
    expect(chainViolations(kinds, user, rows, now)).toEqual([])
  })

  it("a cancelled year that was never attempted is still owed while it is ahead", () => {
    const rows = [rowOf(2029, "sent", 1), rowOf(2030, "cancelled", 0), rowOf(2031, "pending", 0), birthday]
    expect(chainViolations(kinds, user, rows, now).map((v) => v.violation)).toEqual(["wrong_year"])
  })
})
