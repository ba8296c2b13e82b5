/**
 * The yearly chain of one live user, judged against product.md §8 invariant 2: for every kind the
 * user has an anchor for, exactly one pending occurrence, for the first year not yet settled, at
 * the instant the calendar gives for the user's current data. Pure, so the rules are unit-tested
 * apart from the queries that feed them.
 */
import {
  type LedgerViolationKind,
  nextOccurrence,
  type OccasionKinds,
  type OccasionSubject,
  occurrenceInYear
} from "@birthday/domain"
import { Option } from "effect"

/** One ledger row of the user, as the checker reads it. */
export interface ChainRow {
  readonly key: string
  readonly kind: string
  readonly year: number
  readonly state: string
  readonly localDate: string
  /** Epoch ms. */
  readonly dueMs: number
}

/** A violation found on one user's chain. */
export interface ChainViolation {
  readonly violation: LedgerViolationKind
  readonly key: string | null
  readonly kind: string
  readonly year: number | null
  readonly state: string | null
  readonly detail: string
}

/**
 * Whether a row closes its year. Everything past `pending` does: enqueued and sending rows were
 * handed to delivery, retrying rows were attempted, the rest are final. `cancelled` does not (a
 * removed anchor that comes back is owed that year's greeting if it is still ahead).
 */
export const closesYear = (state: string): boolean => state !== "pending" && state !== "cancelled"

const iso = (ms: number) => new Date(ms).toISOString()

/** Every chain violation of one live user, per kind in definition order. */
export const chainViolations = (
  kinds: OccasionKinds,
  user: OccasionSubject,
  rows: ReadonlyArray<ChainRow>,
  now: number
): Array<ChainViolation> => {
  const found: Array<ChainViolation> = []
  for (const kind of kinds.all) {
    const own = rows.filter((row) => row.kind === kind.name)
    const pending = own.filter((row) => row.state === "pending").sort((a, b) => a.year - b.year)
    const report = (
      violation: LedgerViolationKind,
      row: ChainRow | undefined,
      detail: string
    ) =>
      found.push({
        violation,
        key: row?.key ?? null,
        kind: kind.name,
        year: row?.year ?? null,
        state: row?.state ?? null,
        detail
      })
    const next = nextOccurrence(kind, user, now)
    if (Option.isNone(next)) {
      for (const row of pending) report("open_without_anchor", row, `the user has no ${kind.anchor}`)
      continue
    }
    const settledYears = own.filter((row) => closesYear(row.state)).map((row) => row.year)
    const lastSettled = settledYears.length === 0 ? undefined : Math.max(...settledYears)
    for (const row of own) {
      if (row.state === "sent" && !own.some((other) => other.year > row.year)) {
        report("sent_without_successor", row, `no occurrence after ${row.year}`)
      }
    }
    if (pending.length === 0) {
      const latest = [...own].sort((a, b) => b.year - a.year)[0]
      report(
        "missing_next",
        latest,
        latest === undefined
          ? "no occurrence at all"
          : `latest is ${latest.year} (${latest.state}); expected a pending ${
            lastSettled === undefined ? next.value.year : lastSettled + 1
          }`
      )
      continue
    }
    if (pending.length > 1) {
      for (const row of pending) {
        report(
          "duplicate_open",
          row,
          `${pending.length} pending: ${pending.map((p) => p.year)}`
        )
      }
    }
    const open = pending[0]!
    // The first year not yet settled. With nothing settled the chain starts where it was created
    // or last edited, which the ledger does not record, so the bound is the other side: it may not
    // be later than the next occurrence still ahead (that would skip a greeting).
    if (lastSettled !== undefined && open.year !== lastSettled + 1) {
      report("wrong_year", open, `expected ${lastSettled + 1} (last settled ${lastSettled})`)
    } else if (lastSettled === undefined && open.year > next.value.year) {
      report("wrong_year", open, `skips ${next.value.year}, still ahead (due ${iso(next.value.dueAt)})`)
    }
    const expected = Option.getOrThrow(occurrenceInYear(kind, user, open.year))
    if (expected.dueAt !== open.dueMs || expected.localDate !== open.localDate) {
      report(
        "wrong_instant",
        open,
        `due ${iso(open.dueMs)} on ${open.localDate}; calendar says ${iso(expected.dueAt)} on ${expected.localDate}`
      )
    }
  }
  return found
}
