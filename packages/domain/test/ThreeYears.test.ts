import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Option, TestClock } from "effect"
import type { OccasionKind, OccasionKindName } from "../src/OccasionKind.js"
import { OccasionSettings } from "../src/OccasionSettings.js"
import type { OccasionSubject } from "../src/OccurrenceCalendar.js"
import { decideOccurrence, type LedgerEntry, LifecycleDecision } from "../src/OccurrenceLifecycle.js"

const at = (iso: string): number => Date.parse(iso)

/**
 * A minimal scheduler over an in-memory ledger, driven only by the lifecycle decision and `Clock`:
 * it decides until nothing changes, "sending" whatever is due.
 */
const makeScheduler = (kinds: ReadonlyArray<OccasionKind>, initial: OccasionSubject) => {
  let user = initial
  const ledger = new Map<OccasionKindName, LedgerEntry>()
  // The latest settled year per kind, as the Postgres ledger tells the decision.
  const settled = new Map<OccasionKindName, number>()
  const sent: Array<{ readonly key: string; readonly dueAt: number; readonly sentAt: number }> = []

  const step = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    for (const kind of kinds) {
      for (let guard = 0; guard < 10; guard++) {
        const previous = Option.fromNullable(ledger.get(kind.name))
        const decision = decideOccurrence({
          kind,
          previous,
          user: Option.some(user),
          now,
          settledYear: settled.get(kind.name)
        })
        if (LifecycleDecision.$is("Keep")(decision)) break
        LifecycleDecision.$match(decision, {
          Keep: () => undefined,
          Cancel: () => ledger.set(kind.name, { ...Option.getOrThrow(previous), state: "cancelled" }),
          Reschedule: ({ occurrence }) => ledger.set(kind.name, { occurrence, state: "pending" }),
          NextYear: ({ occurrence }) => ledger.set(kind.name, { occurrence, state: "pending" }),
          Expire: ({ occurrence }) => {
            settled.set(kind.name, occurrence.year)
            ledger.set(kind.name, { occurrence, state: "expired" })
          },
          SendNow: ({ occurrence }) => {
            sent.push({ key: occurrence.key, dueAt: occurrence.dueAt, sentAt: now })
            settled.set(kind.name, occurrence.year)
            ledger.set(kind.name, { occurrence, state: "sent" })
          }
        })
      }
    }
  })

  // Sleep until the earliest pending dueAt, as a runner arms its timer; sleeping uses Clock, so
  // TestClock drives it. A day's nap when nothing is pending.
  const nextWake = Effect.map(Clock.currentTimeMillis, (now) => {
    const due = [...ledger.values()].filter(({ state }) => state === "pending").map(({ occurrence }) =>
      occurrence.dueAt
    )
    return Duration.millis(due.length === 0 ? 86_400_000 : Math.max(0, Math.min(...due) - now))
  })
  const run = Effect.forever(Effect.zipRight(step, Effect.flatMap(nextWake, Effect.sleep)))
  let timer: Fiber.RuntimeFiber<never> | undefined

  return {
    sent,
    start: Effect.map(Effect.fork(run), (fiber) => void (timer = fiber)),
    /** An edit re-arms the timer, as the server's edit transaction notifies the runner. */
    edit: (change: Partial<OccasionSubject>) =>
      Effect.gen(function*() {
        if (timer) yield* Fiber.interrupt(timer)
        user = { ...user, ...change }
        timer = yield* Effect.fork(run)
      })
  }
}

const advanceTo = (iso: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => TestClock.adjust(Duration.millis(at(iso) - now)))

describe("three simulated years", () => {
  it.effect("one greeting per kind per year, through a zone move and an anniversary edit", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2030-01-01T00:00:00Z"))
      const { all } = yield* OccasionSettings
      const scheduler = makeScheduler(all, {
        id: "u-1",
        timeZone: "America/New_York",
        birthday: "2000-02-29",
        anniversary: "2020-11-03"
      })
      yield* scheduler.start

      // An hour after the 2031 birthday was sent in New York, a move to Pago Pago (UTC-11), where
      // it is not yet 09:00 that day, must not bring a second one.
      yield* advanceTo("2031-02-28T15:00:00Z")
      yield* scheduler.edit({ timeZone: "Pacific/Pago_Pago" })
      yield* advanceTo("2031-06-01T00:00:00Z")
      yield* scheduler.edit({ timeZone: "Pacific/Kiritimati" })
      // After the 2031 anniversary was sent: a later date this year must wait for 2032.
      yield* advanceTo("2031-12-01T00:00:00Z")
      yield* scheduler.edit({ anniversary: "2020-12-24" })
      yield* advanceTo("2033-01-10T00:00:00Z")

      expect(scheduler.sent.map(({ dueAt, key }) => [key, new Date(dueAt).toISOString()])).toEqual([
        ["birthday:u-1:2030", "2030-02-28T14:00:00.000Z"], // Feb 28 in a non-leap year, 09:00 EST
        ["anniversary:u-1:2030", "2030-11-03T14:00:00.000Z"], // the day DST ends; 09:00 is EST
        ["birthday:u-1:2031", "2031-02-28T14:00:00.000Z"],
        ["anniversary:u-1:2031", "2031-11-02T19:00:00.000Z"], // 09:00 at UTC+14
        ["birthday:u-1:2032", "2032-02-28T19:00:00.000Z"], // Feb 29 2032, 09:00 at UTC+14
        ["anniversary:u-1:2032", "2032-12-23T19:00:00.000Z"] // the edited date, next year
      ])
      // The timer wakes exactly at each dueAt.
      for (const { dueAt, sentAt } of scheduler.sent) expect(sentAt).toBe(dueAt)
    }).pipe(Effect.provide(OccasionSettings.layerWith())))
})
