import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Authorization } from "./Authorization.js"
import { impossibleDateTime, isoInstantPattern, maxInstantMillis, minInstantMillis } from "./CalendarFields.js"
import { MalformedJson, PayloadTooLarge, ValidationError } from "./Errors.js"
import { LedgerState } from "./LedgerState.js"
import { QueryInteger } from "./QueryInteger.js"

/** One occurrence as the delivery ledger holds it. */
export class Delivery extends Schema.Class<Delivery>("Delivery")({
  key: Schema.String,
  kind: Schema.String,
  userId: Schema.String,
  year: Schema.Number,
  state: LedgerState,
  dueAt: Schema.DateTimeUtc,
  deadlineAt: Schema.DateTimeUtc,
  attempts: Schema.Number,
  replays: Schema.Number,
  lastError: Schema.NullOr(Schema.String),
  enqueuedAt: Schema.NullOr(Schema.DateTimeUtc),
  sentAt: Schema.NullOr(Schema.DateTimeUtc),
  updatedAt: Schema.DateTimeUtc
}) {}

/** One provider attempt (or a decision without one, such as a deadline). */
export class DeliveryAttempt extends Schema.Class<DeliveryAttempt>("DeliveryAttempt")({
  attempt: Schema.Number,
  outcome: Schema.String,
  status: Schema.NullOr(Schema.Number),
  error: Schema.NullOr(Schema.String),
  runner: Schema.String,
  startedAt: Schema.DateTimeUtc,
  finishedAt: Schema.DateTimeUtc
}) {}

/** A delivery with its attempt history, oldest first. */
export class DeliveryDetail extends Schema.Class<DeliveryDetail>("DeliveryDetail")({
  delivery: Delivery,
  attempts: Schema.Array(DeliveryAttempt)
}) {}

/** One page of deliveries; `nextCursor` is null on the last page. */
export class DeliveryPage extends Schema.Class<DeliveryPage>("DeliveryPage")({
  items: Schema.Array(Delivery),
  nextCursor: Schema.NullOr(Schema.String)
}) {}

/** An ISO 8601 instant with its zone (`2024-01-01T00:00:00Z`), between the years 1 and 9999. */
export const ApiInstant = Schema.String.pipe(
  Schema.pattern(isoInstantPattern, {
    message: () => "must be an ISO 8601 instant with a zone designator (2024-01-01T00:00:00Z)"
  }),
  Schema.filter((text) => {
    const reason = impossibleDateTime(text)
    return reason === undefined || `must be a date and time that exists: ${reason}`
  })
).annotations({
  identifier: "Instant",
  description: "An ISO 8601 date-time with its zone designator (2024-01-01T00:00:00Z), years 0001–9999",
  jsonSchema: { format: "date-time" }
}).pipe(
  Schema.compose(Schema.DateTimeUtc),
  Schema.filter((value) => {
    const ms = value.epochMillis
    return (ms >= minInstantMillis && ms <= maxInstantMillis) || "must be between years 0001 and 9999"
  })
)

/** An occasion kind's name as filters take it (`birthday`, `anniversary`, …). */
export const KindFilter = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_-]{0,63}$/, {
    message: () => "must be a kind name (lowercase letters, digits, - or _)"
  })
)

/** `GET /deliveries` filters: state, kind, user and a `dueAt` range [from, to), with a cursor. */
export const DeliveryListParams = Schema.Struct({
  state: Schema.optional(LedgerState),
  kind: Schema.optional(KindFilter),
  userId: Schema.optional(Schema.String),
  from: Schema.optional(ApiInstant),
  to: Schema.optional(ApiInstant),
  cursor: Schema.optional(Schema.String),
  limit: Schema.optional(QueryInteger(1, 500, "1–500, default 100"))
})

/** The states a replay starts again from. */
export const ReplayableState = Schema.Literal("dead", "ambiguous", "expired")
export type ReplayableState = typeof ReplayableState.Type

/** `POST /deliveries/replay`: every occurrence of `kind` (or all kinds) due in [from, to) in `states`. */
export class BulkReplayRequest extends Schema.Class<BulkReplayRequest>("BulkReplayRequest")({
  kind: Schema.optional(KindFilter),
  from: ApiInstant,
  to: ApiInstant,
  /** Default: `["dead"]`. */
  states: Schema.optional(Schema.Array(ReplayableState)),
  /** Only count; default false. */
  dryRun: Schema.optional(Schema.Boolean)
}) {}

/**
 * How many occurrences matched, how many were re-enqueued (0 on a dry run), and how many of those
 * had their command published at once (the retry sweeper publishes the others).
 */
export class BulkReplayResult extends Schema.Class<BulkReplayResult>("BulkReplayResult")({
  matched: Schema.Number,
  replayed: Schema.Number,
  published: Schema.Number,
  dryRun: Schema.Boolean
}) {}

/**
 * A replayed occurrence, back in `enqueued` in the ledger; `published` is false when the delivery
 * queue did not take its command at once (the retry sweeper publishes it).
 */
export class ReplayResult extends Schema.Class<ReplayResult>("ReplayResult")({
  key: Schema.String,
  state: LedgerState,
  replays: Schema.Number,
  published: Schema.Boolean
}) {}

/** No occurrence has this key. */
export class DeliveryNotFound extends Schema.TaggedError<DeliveryNotFound>()(
  "DeliveryNotFound",
  { key: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** The occurrence is sent, in flight, cancelled or pending: a replay could only send it twice or early. */
export class DeliveryNotReplayable extends Schema.TaggedError<DeliveryNotReplayable>()(
  "DeliveryNotReplayable",
  { key: Schema.String, state: LedgerState, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** A malformed cursor or range. */
export class DeliveryQueryInvalid extends Schema.TaggedError<DeliveryQueryInvalid>()(
  "DeliveryQueryInvalid",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

const keyParam = HttpApiSchema.param("key", Schema.String)

/** The delivery ledger: list, inspect and replay (one by one or in bulk) without double sends. */
export class DeliveriesGroup extends HttpApiGroup.make("deliveries")
  .add(
    HttpApiEndpoint.get("list", "/deliveries")
      .annotate(OpenApi.Summary, "List deliveries")
      .setUrlParams(DeliveryListParams)
      .addSuccess(DeliveryPage)
      .addError(ValidationError)
      .addError(DeliveryQueryInvalid)
      .annotate(OpenApi.Description, "Occurrences by dueAt, filtered by state, kind, user and dueAt range.")
  )
  .add(
    HttpApiEndpoint.get("get")`/deliveries/${keyParam}`
      .annotate(OpenApi.Summary, "Get a delivery")
      .addSuccess(DeliveryDetail)
      .addError(DeliveryNotFound)
      .annotate(OpenApi.Description, "One occurrence with its attempt history.")
  )
  .add(
    HttpApiEndpoint.post("replay")`/deliveries/${keyParam}/replay`
      .annotate(OpenApi.Summary, "Replay a delivery")
      .addSuccess(ReplayResult, { status: 202 })
      .addError(DeliveryNotFound)
      .addError(DeliveryNotReplayable)
      .annotate(
        OpenApi.Description,
        "Re-enqueue a dead, ambiguous or expired occurrence (idempotent: at most one send). 202 once the " +
          "ledger records it: its command is published at once, or by the retry sweeper when the queue is " +
          "unavailable (`published: false`)."
      )
  )
  .add(
    HttpApiEndpoint.post("replayBulk", "/deliveries/replay")
      .annotate(OpenApi.Summary, "Replay deliveries in bulk")
      .setPayload(BulkReplayRequest)
      // 200 for a dry run, which changes nothing; 202 once a replay is recorded.
      .addSuccess(BulkReplayResult)
      .addSuccess(BulkReplayResult, { status: 202 })
      .addError(ValidationError)
      .addError(MalformedJson)
      .addError(PayloadTooLarge)
      .addError(DeliveryQueryInvalid)
      .annotate(
        OpenApi.Description,
        "Re-enqueue by kind and dueAt range (202 once recorded; the retry sweeper publishes what the queue " +
          "did not take); `dryRun` only counts (200)."
      )
  )
  .middleware(Authorization)
  .annotate(OpenApi.Description, "The delivery ledger: inspect and replay greetings without double sends.")
{}
