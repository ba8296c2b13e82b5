import { Data, Duration, Option } from "effect"
import { isCancellable, isYearSettled, type LedgerState } from "./LedgerState.js"
import type { OccasionKind } from "./OccasionKind.js"
import { nextOccurrence, type OccasionSubject, type Occurrence, occurrenceInYear } from "./OccurrenceCalendar.js"

/** What to do with a kind's occurrence after a create, an edit, a delete or a restart. */
export type LifecycleDecision = Data.TaggedEnum<{
  /** Nothing changes. */
  Keep: {}
  /** Store this occurrence (new, or the same key with a new `dueAt`) as pending. */
  Reschedule: { readonly occurrence: Occurrence }
  /** It is past due but within the late window: send it now. */
  SendNow: { readonly occurrence: Occurrence }
  /** It is past due beyond the late window: record it as expired. */
  Expire: { readonly occurrence: Occurrence }
  /** This year's greeting is done: store next year's occurrence as pending. */
  NextYear: { readonly occurrence: Occurrence }
  /** The user is gone or lost the anchor date: cancel the open occurrence. */
  Cancel: {}
}>

/** Constructors and matchers of `LifecycleDecision`. */
export const LifecycleDecision = Data.taggedEnum<LifecycleDecision>()

/** An occurrence as the ledger holds it. */
export interface LedgerEntry {
  readonly occurrence: Occurrence
  readonly state: LedgerState
}

/** What happens to an occurrence due at `dueAt`, seen at `now`. */
export type CatchUp = "wait" | "sendNow" | "expire"

/**
 * Downtime catch-up: not yet due → wait; late by at most the kind's late window (inclusive) →
 * send now; later than that → expire.
 */
export const catchUpDecision = (kind: Pick<OccasionKind, "lateWindow">, dueAt: number, now: number): CatchUp =>
  dueAt > now ? "wait" : now - dueAt <= Duration.toMillis(kind.lateWindow) ? "sendNow" : "expire"

/** The inputs of a lifecycle decision; `now` is epoch ms taken from `Clock`. */
export interface LifecycleInput {
  readonly kind: OccasionKind
  /** The kind's latest ledger entry for the user; none when the user is being created. */
  readonly previous: Option.Option<LedgerEntry>
  /** The user as it now is; none when deleted. */
  readonly user: Option.Option<OccasionSubject>
  readonly now: number
  /**
   * The latest year of the kind that is settled (greeted, given up, or attempted and then
   * cancelled), when it is not `previous` itself: no occurrence is ever scheduled in or before it.
   */
  readonly settledYear?: number | undefined
}

const sameSchedule = (a: Occurrence, b: Occurrence): boolean =>
  a.key === b.key && a.dueAt === b.dueAt && a.localDate === b.localDate && a.tzdata === b.tzdata

/** An open occurrence recomputed for its own year (same key), then judged against `now`. */
const recompute = (kind: OccasionKind, entry: LedgerEntry, occurrence: Occurrence, now: number) => {
  const unchanged = sameSchedule(occurrence, entry.occurrence)
  switch (catchUpDecision(kind, occurrence.dueAt, now)) {
    case "wait":
      return unchanged ? LifecycleDecision.Keep() : LifecycleDecision.Reschedule({ occurrence })
    case "sendNow":
      // A retrying occurrence is already being sent; its retry schedule owns it.
      return unchanged && entry.state === "retrying"
        ? LifecycleDecision.Keep()
        : LifecycleDecision.SendNow({ occurrence })
    case "expire":
      return unchanged && entry.state === "retrying"
        ? LifecycleDecision.Keep()
        : LifecycleDecision.Expire({ occurrence })
  }
}

/**
 * The lifecycle rules of product.md §2 as one pure function. Create: the first `dueAt` strictly
 * after now. Delete or a removed anchor: cancel what is still open. Edit or restart: a settled
 * year moves on to next year's occurrence (never a second greeting in a year); an open one is
 * recomputed for its year and kept, rescheduled, sent now or expired by the late window. After
 * recording `SendNow`'s or `Expire`'s outcome, decide again to get next year's occurrence.
 */
export const decideOccurrence = ({ kind, now, previous, settledYear, user }: LifecycleInput): LifecycleDecision => {
  const first = Option.flatMap(user, (subject) => nextOccurrence(kind, subject, now))
  if (Option.isNone(user) || Option.isNone(first)) {
    return Option.exists(previous, (entry) => isCancellable(entry.state))
      ? LifecycleDecision.Cancel()
      : LifecycleDecision.Keep()
  }
  // The first occurrence after now, but never in a year that is already settled.
  const next = settledYear !== undefined && first.value.year <= settledYear
    ? Option.getOrThrow(occurrenceInYear(kind, user.value, settledYear + 1))
    : first.value
  if (Option.isNone(previous) || previous.value.state === "cancelled") {
    return LifecycleDecision.Reschedule({ occurrence: next })
  }
  const entry = previous.value
  if (isYearSettled(entry.state)) {
    const occurrence = next.year > entry.occurrence.year
      ? next
      : Option.getOrThrow(occurrenceInYear(kind, user.value, entry.occurrence.year + 1))
    return LifecycleDecision.NextYear({ occurrence })
  }
  // An open occurrence of a later year while an earlier one is still ahead and not settled (a
  // user created after this year's date, then moved later this year): this year's comes first.
  if (entry.state === "pending" && next.year < entry.occurrence.year) {
    return LifecycleDecision.Reschedule({ occurrence: next })
  }
  return recompute(kind, entry, Option.getOrThrow(occurrenceInYear(kind, user.value, entry.occurrence.year)), now)
}
