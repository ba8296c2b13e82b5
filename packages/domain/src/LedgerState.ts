import * as Schema from "effect/Schema"

/** Where an occurrence stands in the delivery ledger. */
export const LedgerState = Schema.Literal(
  "pending",
  "enqueued",
  "sending",
  "sent",
  "retrying",
  "dead",
  "ambiguous",
  "expired",
  "cancelled"
).annotations({ identifier: "LedgerState" })
export type LedgerState = typeof LedgerState.Type

// Delivered, possibly delivered, handed to the queue, or given up on: an edit must not produce a
// second greeting for the same year, so these close the year for their kind.
const settled: ReadonlySet<LedgerState> = new Set<LedgerState>([
  "enqueued",
  "sending",
  "sent",
  "ambiguous",
  "dead",
  "expired"
])

/** Whether this occurrence's year is done for its kind: the next greeting is next year's. */
export const isYearSettled = (state: LedgerState): boolean => settled.has(state)

/**
 * Whether deleting the user cancels the occurrence: nothing has reached the provider yet. An
 * enqueued occurrence is cancelled too; the worker's guarded `enqueued → sending` step then fails.
 */
export const isCancellable = (state: LedgerState): boolean =>
  state === "pending" || state === "retrying" || state === "enqueued"
