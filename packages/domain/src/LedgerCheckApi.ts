import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Authorization } from "./Authorization.js"
import { QueryInteger } from "./QueryInteger.js"

/**
 * Every invariant `birthday ledger check` verifies (product.md §8, issue 11), one name each. The
 * descriptions below say what a violation means; the order is the order of the report.
 */
export const LedgerViolationKind = Schema.Literal(
  "missing_next",
  "duplicate_open",
  "wrong_year",
  "wrong_instant",
  "open_without_anchor",
  "sent_without_successor",
  "deleted_user_open",
  "past_deadline_open",
  "sending_past_lease",
  "dead_without_error",
  "duplicate_year",
  "sent_outside_window",
  "sent_twice"
).annotations({ identifier: "LedgerViolationKind" })
export type LedgerViolationKind = typeof LedgerViolationKind.Type

/** What each violation means, with the product.md §8 invariant it breaks. */
export const ledgerViolationDescriptions: Readonly<Record<LedgerViolationKind, string>> = {
  missing_next: "§8.2 live user with an anchor for the kind has no pending occurrence (never greeted again)",
  duplicate_open: "§8.2 more than one pending occurrence of one (user, kind)",
  wrong_year: "§8.2 the pending occurrence is not for the first year not yet settled",
  wrong_instant: "§8.2 the pending occurrence's dueAt/localDate differ from the calendar for the user's current data",
  open_without_anchor: "§8.2 pending occurrence of a kind whose anchor date the user no longer has",
  sent_without_successor: "§8.2 sent occurrence with no occurrence for a later year (live user with the anchor)",
  deleted_user_open: "§8.5 deleted user with an open (pending, enqueued or retrying) occurrence",
  past_deadline_open: "§8.3 pending, enqueued or retrying past its deadline by more than the grace",
  sending_past_lease: "§8.4 sending past its lease (or, without a lease column, not updated within the grace)",
  dead_without_error: "§8.5 dead without a recorded last error",
  duplicate_year: "§8.1 more than one occurrence per (user, kind, year)",
  sent_outside_window: "§8.3 sent before its dueAt or after its deadline",
  sent_twice: "§8.1 the attempt history records more than one acknowledged send for a key"
}

/** One offending occurrence (or user) of a violation. */
export class LedgerViolationSample extends Schema.Class<LedgerViolationSample>("LedgerViolationSample")({
  key: Schema.NullOr(Schema.String),
  userId: Schema.String,
  kind: Schema.NullOr(Schema.String),
  year: Schema.NullOr(Schema.Int),
  state: Schema.NullOr(Schema.String),
  detail: Schema.String
}) {}

/** One invariant: how many rows break it and the first few of them. */
export class LedgerViolation extends Schema.Class<LedgerViolation>("LedgerViolation")({
  kind: LedgerViolationKind,
  description: Schema.String,
  count: Schema.Int,
  /** At most the requested sample limit; `count` is the total. */
  samples: Schema.Array(LedgerViolationSample)
}) {}

/** The outcome of one ledger check: every invariant with its count (0 when it holds). */
export class LedgerCheckReport extends Schema.Class<LedgerCheckReport>("LedgerCheckReport")({
  checkedAt: Schema.DateTimeUtc,
  clean: Schema.Boolean,
  /** Sum of the counts. */
  violationCount: Schema.Int,
  users: Schema.Int,
  occurrences: Schema.Int,
  deadlineGraceSeconds: Schema.Number,
  sendingGraceSeconds: Schema.Number,
  /** Whether `sending` rows were judged by `lease_until` (else by `updated_at`). */
  leaseColumn: Schema.Boolean,
  violations: Schema.Array(LedgerViolation)
}) {}

/** The longest grace the ledger check takes: a year, in seconds. */
const maxGraceSeconds = 31_536_000

// Whole seconds in decimal digits: `NumberFromString` also took `1e3`, `0x10`, ` 5`, `Infinity`
// and an empty value (read as 0).
const seconds = (description: string) => Schema.optional(QueryInteger(0, maxGraceSeconds, description))

/** `GET /ledger/check` query: sample size per violation and the graces. */
export const LedgerCheckParams = Schema.Struct({
  limit: Schema.optional(QueryInteger(0, 10_000, "offending rows listed per violation, 0–10000, default 20")),
  deadlineGraceSeconds: seconds("seconds an open occurrence may be past its deadline, 0–31536000, default 300"),
  sendingGraceSeconds: seconds("seconds a sending occurrence may be past its lease, 0–31536000, default 120")
})

/** The ledger's invariant checker, behind `birthday ledger check`. */
export class LedgerGroup extends HttpApiGroup.make("ledger")
  .add(
    HttpApiEndpoint.get("check", "/ledger/check")
      .annotate(OpenApi.Summary, "Check the ledger's invariants")
      .setUrlParams(LedgerCheckParams)
      .addSuccess(LedgerCheckReport)
      .annotate(
        OpenApi.Description,
        "fsck of the occurrence ledger: every violated invariant of product.md §8 with a count and offending keys."
      )
  )
  .middleware(Authorization)
  .annotate(OpenApi.Description, "The ledger's invariants, checked the way operators and tests check them.")
{}
