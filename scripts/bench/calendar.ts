/**
 * `pnpm bench calendar`: occurrences computed per second on one core, for random users in every
 * zone, next to raw luxon converting the same wall times. Inputs are seeded, so runs compare.
 */
import type * as Luxon from "luxon"
import { createRequire } from "node:module"
import { occasionKinds } from "../../packages/domain/src/OccasionKind.js"
import { nextOccurrence, type OccasionSubject, tzdataVersion } from "../../packages/domain/src/OccurrenceCalendar.js"
import { allTimeZones } from "../../packages/domain/src/TimeZone.js"

// luxon is a dependency of the domain package only, so resolve it from there.
const { DateTime } = createRequire(new URL("../../packages/domain/package.json", import.meta.url))(
  "luxon"
) as typeof Luxon

/** mulberry32: a tiny seeded PRNG, so every run draws the same users. */
const random = (seed: number) => () => {
  seed = (seed + 0x6D2B79F5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Case {
  readonly subject: OccasionSubject
  readonly after: number
  readonly year: number
  readonly month: number
  readonly day: number
}

const zones = allTimeZones()
const pad = (n: number) => String(n).padStart(2, "0")

const makeCases = (count: number, seed: number): ReadonlyArray<Case> => {
  const next = random(seed)
  const pick = (n: number) => Math.floor(next() * n)
  return Array.from({ length: count }, (_, i) => {
    const month = 1 + pick(12)
    const day = 1 + pick(month === 2 ? 29 : 30)
    const birthYear = month === 2 && day === 29 ? 1952 + 4 * pick(13) : 1950 + pick(56)
    const after = Date.UTC(2000, 0, 1) + pick(40 * 365.25 * 86_400_000)
    const subject = {
      id: `user-${i}`,
      timeZone: zones[pick(zones.length)]!,
      birthday: `${birthYear}-${pad(month)}-${pad(day)}`
    }
    const year = new Date(after).getUTCFullYear()
    // luxon rejects Feb 29 in a non-leap year; give it the Feb 28 the calendar uses.
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
    return { subject, after, year, month, day: month === 2 && day === 29 && !leap ? 28 : day }
  })
}

const perSecond = (cases: ReadonlyArray<Case>, run: (c: Case) => number): number => {
  let sink = 0
  const start = performance.now()
  for (const c of cases) sink += run(c)
  const elapsed = performance.now() - start
  // Using the sum keeps the loop from being optimised away; NaN would mean an invalid result.
  if (Number.isNaN(sink)) throw new Error("a computation returned NaN")
  return cases.length / (elapsed / 1000)
}

const kind = occasionKinds.birthday
// The root package does not depend on effect, so read the Option by its tag.
const calendar = (c: Case) => {
  const occurrence = nextOccurrence(kind, c.subject, c.after)
  if (occurrence._tag === "None") throw new Error(`no occurrence for ${c.subject.id}`)
  return occurrence.value.dueAt
}
const luxon = (c: Case) =>
  DateTime.fromObject({ year: c.year, month: c.month, day: c.day, hour: 9, minute: 0 }, { zone: c.subject.timeZone })
    .toMillis()

const size = 100_000
const roundCount = 5
const format = (n: number) => Math.round(n).toLocaleString("en-US")

console.log(
  `calendar: ${zones.length} zones, ${size.toLocaleString("en-US")} random users per round, tzdata ${tzdataVersion}`
)
// Cold: the first touch of every zone pays for its Intl.DateTimeFormat (and JIT warm-up).
const cold = perSecond(makeCases(size, 1), calendar)
perSecond(makeCases(size, 2), luxon)
// Fresh users every round: the zone caches stay warm, the answers are never cached. Each library
// runs its rounds on its own: interleaving them makes each evict the other's ICU state.
const rounds = Array.from({ length: roundCount }, (_, round) => makeCases(size, 100 + round))
const ours = rounds.map((cases) => perSecond(cases, calendar))
const theirs = rounds.map((cases) => perSecond(cases, luxon))
const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`  nextOccurrence, cold             ${format(cold).padStart(10)} occurrences/s`)
console.log(`  nextOccurrence, warm (median)    ${format(median(ours)).padStart(10)} occurrences/s`)
console.log(`  luxon fromObject().toMillis()    ${format(median(theirs)).padStart(10)} conversions/s`)
console.log(`  ratio                            ${(median(ours) / median(theirs)).toFixed(1).padStart(10)}×`)
