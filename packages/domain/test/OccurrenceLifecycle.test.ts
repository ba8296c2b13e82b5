import { describe, expect, it } from "@effect/vitest"
import { Duration, Option } from "effect"
import type { LedgerState } from "../src/LedgerState.js"
import { occasionKinds } from "../src/OccasionKind.js"
import { type OccasionSubject, type Occurrence, occurrenceInYear } from "../src/OccurrenceCalendar.js"
import { catchUpDecision, decideOccurrence, type LedgerEntry, LifecycleDecision } from "../src/OccurrenceLifecycle.js"

const birthday = occasionKinds.birthday
const anniversary = occasionKinds.anniversary
const at = (iso: string): number => Date.parse(iso)
const hours = (n: number): number => n * 3_600_000

// A July 4 birthday: 09:00 in Los Angeles is 16:00Z, in Tokyo 00:00Z the same date.
const angeleno: OccasionSubject = { id: "u-1", timeZone: "America/Los_Angeles", birthday: "1990-07-04" }
const tokyoite: OccasionSubject = { ...angeleno, timeZone: "Asia/Tokyo" }

const occurrence = (subject: OccasionSubject, year: number, kind = birthday): Occurrence =>
  Option.getOrThrow(occurrenceInYear(kind, subject, year))
const entry = (subject: OccasionSubject, year: number, state: LedgerState, kind = birthday) =>
  Option.some<LedgerEntry>({ occurrence: occurrence(subject, year, kind), state })
const decide = (
  previous: Option.Option<LedgerEntry>,
  user: OccasionSubject | undefined,
  now: string,
  kind = birthday
) => decideOccurrence({ kind, previous, user: Option.fromNullable(user), now: at(now) })

describe("OccurrenceLifecycle", () => {
  describe("create", () => {
    it("on the birthday before the send time: today's greeting", () => {
      expect(decide(Option.none(), angeleno, "2025-07-04T15:00:00Z"))
        .toEqual(LifecycleDecision.Reschedule({ occurrence: occurrence(angeleno, 2025) }))
    })
    it("on the birthday after the send time: next year's", () => {
      expect(decide(Option.none(), angeleno, "2025-07-04T16:00:01Z"))
        .toEqual(LifecycleDecision.Reschedule({ occurrence: occurrence(angeleno, 2026) }))
    })
    it("without an anniversary: nothing to schedule", () => {
      expect(decide(Option.none(), angeleno, "2025-01-01T00:00:00Z", anniversary)).toEqual(LifecycleDecision.Keep())
    })
  })

  describe("edit", () => {
    it("an unchanged pending occurrence is kept", () => {
      expect(decide(entry(angeleno, 2025, "pending"), angeleno, "2025-03-01T00:00:00Z")).toEqual(
        LifecycleDecision.Keep()
      )
    })
    it("a new date before this year's send reschedules the same key", () => {
      const moved = { ...angeleno, birthday: "1990-09-01" }
      const decision = decide(entry(angeleno, 2025, "pending"), moved, "2025-03-01T00:00:00Z")
      expect(decision).toEqual(LifecycleDecision.Reschedule({ occurrence: occurrence(moved, 2025) }))
      expect(occurrence(moved, 2025).key).toBe(occurrence(angeleno, 2025).key)
    })
    it("after this year's greeting, a new later date waits for next year: never two in a year", () => {
      const moved = { ...angeleno, birthday: "1990-12-25" }
      for (const state of ["enqueued", "sending", "sent", "ambiguous", "dead", "expired"] as const) {
        expect(decide(entry(angeleno, 2025, state), moved, "2025-08-01T00:00:00Z"))
          .toEqual(LifecycleDecision.NextYear({ occurrence: occurrence(moved, 2026) }))
      }
    })
    it("a pending greeting moved to yesterday is sent now, within the late window", () => {
      const moved = { ...angeleno, birthday: "1990-07-03" }
      expect(decide(entry(angeleno, 2025, "pending"), moved, "2025-07-04T00:00:00Z"))
        .toEqual(LifecycleDecision.SendNow({ occurrence: occurrence(moved, 2025) }))
    })
    it("a pending greeting moved to weeks ago is expired; next year's follows once recorded", () => {
      const moved = { ...angeleno, birthday: "1990-06-01" }
      expect(decide(entry(angeleno, 2025, "pending"), moved, "2025-07-01T00:00:00Z"))
        .toEqual(LifecycleDecision.Expire({ occurrence: occurrence(moved, 2025) }))
      expect(decide(entry(moved, 2025, "expired"), moved, "2025-07-01T00:00:00Z"))
        .toEqual(LifecycleDecision.NextYear({ occurrence: occurrence(moved, 2026) }))
    })
    it("a new tzdata release reschedules a pending occurrence", () => {
      const stale = Option.some({
        occurrence: { ...occurrence(angeleno, 2025), tzdata: "2019a" },
        state: "pending" as const
      })
      expect(decide(stale, angeleno, "2025-03-01T00:00:00Z"))
        .toEqual(LifecycleDecision.Reschedule({ occurrence: occurrence(angeleno, 2025) }))
    })
    it("a retrying occurrence is left to its retry schedule", () => {
      expect(decide(entry(angeleno, 2025, "retrying"), angeleno, "2025-07-04T17:00:00Z")).toEqual(
        LifecycleDecision.Keep()
      )
    })
    it("a cancelled occurrence comes back when the anchor does", () => {
      const married = { ...angeleno, anniversary: "2015-10-10" }
      expect(decide(entry(married, 2025, "cancelled", anniversary), married, "2025-03-01T00:00:00Z", anniversary))
        .toEqual(LifecycleDecision.Reschedule({ occurrence: occurrence(married, 2025, anniversary) }))
    })
  })

  describe("zone moves on the birthday itself", () => {
    it("east, before the old send time but after the new one: sent now", () => {
      // 10:00Z: 03:00 in Los Angeles (due 16:00Z), already 19:00 in Tokyo (was due 00:00Z).
      expect(decide(entry(angeleno, 2025, "pending"), tokyoite, "2025-07-04T10:00:00Z"))
        .toEqual(LifecycleDecision.SendNow({ occurrence: occurrence(tokyoite, 2025) }))
    })
    it("east, before both send times: rescheduled earlier", () => {
      expect(decide(entry(angeleno, 2025, "pending"), tokyoite, "2025-07-03T20:00:00Z"))
        .toEqual(LifecycleDecision.Reschedule({ occurrence: occurrence(tokyoite, 2025) }))
    })
    it("west, after Tokyo's greeting was sent: next year's, not a second one today", () => {
      expect(decide(entry(tokyoite, 2025, "sent"), angeleno, "2025-07-04T10:00:00Z"))
        .toEqual(LifecycleDecision.NextYear({ occurrence: occurrence(angeleno, 2026) }))
    })
    it("west, before Tokyo's send time: rescheduled later the same day", () => {
      const decision = decide(entry(tokyoite, 2025, "pending"), angeleno, "2025-07-03T23:00:00Z")
      expect(decision).toEqual(LifecycleDecision.Reschedule({ occurrence: occurrence(angeleno, 2025) }))
    })
  })

  describe("delete", () => {
    it("cancels what has not reached the provider", () => {
      for (const state of ["pending", "retrying", "enqueued"] as const) {
        expect(decide(entry(angeleno, 2025, state), undefined, "2025-03-01T00:00:00Z")).toEqual(
          LifecycleDecision.Cancel()
        )
      }
    })
    it("leaves delivered and finished occurrences alone", () => {
      for (const state of ["sending", "sent", "ambiguous", "dead", "expired", "cancelled"] as const) {
        expect(decide(entry(angeleno, 2025, state), undefined, "2025-08-01T00:00:00Z")).toEqual(
          LifecycleDecision.Keep()
        )
      }
    })
    it("removing the anniversary cancels its pending occurrence", () => {
      const married = { ...angeleno, anniversary: "2015-10-10" }
      expect(decide(entry(married, 2025, "pending", anniversary), angeleno, "2025-03-01T00:00:00Z", anniversary))
        .toEqual(LifecycleDecision.Cancel())
    })
  })

  describe("a 3-day outage with a 48-hour late window", () => {
    // Down from 2025-07-01T00:00Z to 2025-07-04T00:00Z: greetings due during it are 0–72 h late.
    const restart = "2025-07-04T00:00:00Z"
    const dueDuringOutage = [
      ["1990-07-01", "expire"],
      ["1990-07-02", "sendNow"],
      ["1990-07-03", "sendNow"]
    ] as const
    it("sends what is at most 48 h late and expires the rest", () => {
      for (const [date, expected] of dueDuringOutage) {
        const user = { ...angeleno, birthday: date }
        const decision = decide(entry(user, 2025, "pending"), user, restart)
        expect(decision._tag).toBe(expected === "sendNow" ? "SendNow" : "Expire")
      }
    })
    it("catchUpDecision: the window is inclusive, and a future dueAt waits", () => {
      const now = at(restart)
      expect(Duration.toHours(birthday.lateWindow)).toBe(48)
      expect(catchUpDecision(birthday, now + 1, now)).toBe("wait")
      expect(catchUpDecision(birthday, now, now)).toBe("sendNow")
      expect(catchUpDecision(birthday, now - hours(48), now)).toBe("sendNow")
      expect(catchUpDecision(birthday, now - hours(48) - 1, now)).toBe("expire")
      expect(catchUpDecision(birthday, now - hours(72), now)).toBe("expire")
      expect(catchUpDecision({ lateWindow: Duration.minutes(30) }, now - hours(1), now)).toBe("expire")
    })
  })
})
