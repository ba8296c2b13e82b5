import { describe, expect, it } from "@effect/vitest"
import { DateTime as EffectDateTime, Option, Schema } from "effect"
import { DateTime } from "luxon"
import { type OccasionKind, occasionKinds } from "../src/OccasionKind.js"
import {
  nextOccurrence,
  type OccasionSubject,
  type Occurrence,
  occurrenceInYear,
  tzdataVersion
} from "../src/OccurrenceCalendar.js"
import { User } from "../src/User.js"

const birthday = occasionKinds.birthday
const anniversary = occasionKinds.anniversary
const at = (iso: string): number => Date.parse(iso)
const iso = (millis: number): string => new Date(millis).toISOString()
const sendingAt = (hour: number, minute: number): OccasionKind => ({ ...birthday, sendTime: { hour, minute } })
const userIn = (timeZone: string, date: string): OccasionSubject => ({ id: "u-1", timeZone, birthday: date })

const inYear = (kind: OccasionKind, subject: OccasionSubject, year: number): Occurrence =>
  Option.getOrThrow(occurrenceInYear(kind, subject, year))
const next = (kind: OccasionKind, subject: OccasionSubject, after: string): Occurrence =>
  Option.getOrThrow(nextOccurrence(kind, subject, at(after)))

/** luxon's reading of the same wall time, for the vectors where no DST rule intervenes. */
const luxonDue = (zone: string, localDate: string, kind: OccasionKind): number =>
  DateTime.fromISO(localDate, { zone }).set({ hour: kind.sendTime.hour, minute: kind.sendTime.minute }).toMillis()

describe("OccurrenceCalendar vectors", () => {
  // [name, zone, anchor, year, local date, dueAt]: each UTC instant worked out by hand from the
  // zone's offset on that date, and cross-checked against luxon below.
  const vectors: ReadonlyArray<readonly [string, string, string, number, string, string]> = [
    [
      "New York in summer (EDT, UTC-4)",
      "America/New_York",
      "1990-07-04",
      2025,
      "2025-07-04",
      "2025-07-04T13:00:00.000Z"
    ],
    [
      "Pago Pago, UTC-11: no off-by-one day",
      "Pacific/Pago_Pago",
      "1985-03-15",
      2025,
      "2025-03-15",
      "2025-03-15T20:00:00.000Z"
    ],
    [
      "Los Angeles on Dec 31 (PST)",
      "America/Los_Angeles",
      "2000-12-31",
      2025,
      "2025-12-31",
      "2025-12-31T17:00:00.000Z"
    ],
    [
      "Kiritimati, UTC+14: due in the previous UTC year",
      "Pacific/Kiritimati",
      "1992-01-01",
      2026,
      "2026-01-01",
      "2025-12-31T19:00:00.000Z"
    ],
    ["Tokyo, UTC+9", "Asia/Tokyo", "1988-11-03", 2025, "2025-11-03", "2025-11-03T00:00:00.000Z"],
    ["Kolkata, UTC+5:30", "Asia/Kolkata", "1995-08-15", 2025, "2025-08-15", "2025-08-15T03:30:00.000Z"],
    ["Kathmandu, UTC+5:45", "Asia/Kathmandu", "1990-05-20", 2025, "2025-05-20", "2025-05-20T03:15:00.000Z"],
    [
      "Lord Howe in its 30-minute DST (UTC+11)",
      "Australia/Lord_Howe",
      "1990-01-15",
      2025,
      "2025-01-15",
      "2025-01-14T22:00:00.000Z"
    ],
    [
      "Lord Howe in standard time (UTC+10:30)",
      "Australia/Lord_Howe",
      "1990-06-15",
      2025,
      "2025-06-15",
      "2025-06-14T22:30:00.000Z"
    ]
  ]
  for (const [name, zone, anchor, year, localDate, dueAt] of vectors) {
    it(name, () => {
      const occurrence = inYear(birthday, userIn(zone, anchor), year)
      expect(occurrence.localDate).toBe(localDate)
      expect(iso(occurrence.dueAt)).toBe(dueAt)
      expect(occurrence.dueAt).toBe(luxonDue(zone, localDate, birthday))
    })
  }

  it("carries the key, the kind and the tzdata version", () => {
    const occurrence = next(birthday, userIn("America/New_York", "1990-07-04"), "2025-01-01T00:00:00Z")
    expect(occurrence).toEqual({
      key: "birthday:u-1:2025",
      kind: "birthday",
      userId: "u-1",
      year: 2025,
      localDate: "2025-07-04",
      dueAt: at("2025-07-04T13:00:00Z"),
      tzdata: tzdataVersion
    })
    expect(tzdataVersion).toMatch(/^\d{4}[a-z]$/)
  })

  it("anniversaries anchor on the anniversary field, and there is none without one", () => {
    const subject = { id: "u-2", timeZone: "Asia/Tokyo", birthday: "1990-01-01", anniversary: "2015-06-20" }
    const occurrence = next(anniversary, subject, "2025-01-01T00:00:00Z")
    expect([occurrence.key, iso(occurrence.dueAt)]).toEqual(["anniversary:u-2:2025", "2025-06-20T00:00:00.000Z"])
    expect(nextOccurrence(anniversary, { ...subject, anniversary: null }, 0)).toEqual(Option.none())
    expect(occurrenceInYear(anniversary, { id: "u-3", timeZone: "UTC" }, 2025)).toEqual(Option.none())
  })

  it("takes a User as it is", () => {
    const user = Schema.decodeUnknownSync(User)({
      id: "7f0c1d3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f",
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      birthday: "1990-07-04",
      timeZone: "America/New_York",
      anniversary: null,
      createdAt: EffectDateTime.formatIso(EffectDateTime.unsafeMake(0)),
      updatedAt: EffectDateTime.formatIso(EffectDateTime.unsafeMake(0))
    })
    expect(Option.map(nextOccurrence(birthday, user, at("2025-01-01T00:00:00Z")), (o) => o.key))
      .toEqual(Option.some("birthday:7f0c1d3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f:2025"))
    expect(nextOccurrence(anniversary, user, 0)).toEqual(Option.none())
  })

  describe("Feb 29", () => {
    const leapling = userIn("America/New_York", "2000-02-29")
    it("falls on Feb 28 in a non-leap year by default", () => {
      const occurrence = inYear(birthday, leapling, 2025)
      expect([occurrence.localDate, iso(occurrence.dueAt)]).toEqual(["2025-02-28", "2025-02-28T14:00:00.000Z"])
    })
    it("falls on Mar 1 under the mar1 policy", () => {
      const occurrence = inYear({ ...birthday, feb29: "mar1" }, leapling, 2025)
      expect([occurrence.localDate, iso(occurrence.dueAt)]).toEqual(["2025-03-01", "2025-03-01T14:00:00.000Z"])
    })
    it("is Feb 29 in a leap year under either policy", () => {
      for (const kind of [birthday, { ...birthday, feb29: "mar1" as const }]) {
        expect(iso(inYear(kind, leapling, 2028).dueAt)).toBe("2028-02-29T14:00:00.000Z")
      }
    })
  })

  describe("DST", () => {
    it("a send time in Berlin's spring gap moves to the first instant after it (03:00 CEST)", () => {
      const occurrence = inYear(sendingAt(2, 30), userIn("Europe/Berlin", "1990-03-30"), 2025)
      expect([occurrence.localDate, iso(occurrence.dueAt)]).toEqual(["2025-03-30", "2025-03-30T01:00:00.000Z"])
    })
    it("a send time in New York's spring gap moves to 03:00 EDT", () => {
      expect(iso(inYear(sendingAt(2, 30), userIn("America/New_York", "1990-03-09"), 2025).dueAt))
        .toBe("2025-03-09T07:00:00.000Z")
    })
    it("a send time in Lord Howe's 30-minute gap moves to 02:30 (UTC+11)", () => {
      expect(iso(inYear(sendingAt(2, 15), userIn("Australia/Lord_Howe", "1990-10-05"), 2025).dueAt))
        .toBe("2025-10-04T15:30:00.000Z")
    })
    it("a send time in Berlin's autumn overlap takes the earlier instant (02:30 CEST)", () => {
      expect(iso(inYear(sendingAt(2, 30), userIn("Europe/Berlin", "1990-10-26"), 2025).dueAt))
        .toBe("2025-10-26T00:30:00.000Z")
    })
    it("a send time in New York's autumn overlap takes the earlier instant (01:30 EDT)", () => {
      expect(iso(inYear(sendingAt(1, 30), userIn("America/New_York", "1990-11-02"), 2025).dueAt))
        .toBe("2025-11-02T05:30:00.000Z")
    })
    it("02:30 in New York on the autumn change day exists once, in EST", () => {
      expect(iso(inYear(sendingAt(2, 30), userIn("America/New_York", "1990-11-02"), 2025).dueAt))
        .toBe("2025-11-02T07:30:00.000Z")
    })
    it("a send time in Lord Howe's 30-minute overlap takes the earlier instant (01:45 UTC+11)", () => {
      expect(iso(inYear(sendingAt(1, 45), userIn("Australia/Lord_Howe", "1990-04-06"), 2025).dueAt))
        .toBe("2025-04-05T14:45:00.000Z")
    })
  })

  describe("a local date the zone skipped", () => {
    const apian = userIn("Pacific/Apia", "1980-12-30")
    it("Apia skipped 2011-12-30: the greeting is on Dec 31 at the send time (UTC+14)", () => {
      const occurrence = inYear(birthday, apian, 2011)
      expect([occurrence.key, occurrence.localDate, iso(occurrence.dueAt)])
        .toEqual(["birthday:u-1:2011", "2011-12-31", "2011-12-30T19:00:00.000Z"])
    })
    it("the year before and after keep Dec 30 (UTC-10 DST, then UTC+14 DST)", () => {
      expect(iso(inYear(birthday, apian, 2010).dueAt)).toBe("2010-12-30T19:00:00.000Z")
      expect(iso(inYear(birthday, apian, 2012).dueAt)).toBe("2012-12-29T19:00:00.000Z")
    })
  })

  describe("a user created on their birthday", () => {
    const newYorker = userIn("America/New_York", "1990-07-04")
    it("before the send time is greeted that day", () => {
      expect(iso(next(birthday, newYorker, "2025-07-04T12:00:00Z").dueAt)).toBe("2025-07-04T13:00:00.000Z")
    })
    it("after the send time is greeted next year", () => {
      expect(next(birthday, newYorker, "2025-07-04T14:00:00Z").key).toBe("birthday:u-1:2026")
    })
    it("exactly at the send time is greeted next year: dueAt is strictly after now", () => {
      expect(next(birthday, newYorker, "2025-07-04T13:00:00Z").key).toBe("birthday:u-1:2026")
    })
  })

  it("finds last year's Dec 31 greeting west of UTC when UTC is already in the new year", () => {
    const occurrence = next(sendingAt(23, 0), userIn("Pacific/Pago_Pago", "1990-12-31"), "2026-01-01T05:00:00Z")
    expect([occurrence.key, iso(occurrence.dueAt)]).toEqual(["birthday:u-1:2025", "2026-01-01T10:00:00.000Z"])
  })
})
