import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Authorization } from "./Authorization.js"

/** One cluster runner and the slices it holds. */
export class RunnerStatus extends Schema.Class<RunnerStatus>("RunnerStatus")({
  address: Schema.String,
  healthy: Schema.Boolean,
  lastHeartbeat: Schema.NullOr(Schema.DateTimeUtc),
  slices: Schema.Array(Schema.Int),
  /** Occurrences its slices hold in memory, as last reported by the slices. */
  residentOccurrences: Schema.Int
}) {}

/** The delivery circuit breaker as last recorded; `unknown` when nothing records it. */
export const BreakerState = Schema.Literal("closed", "open", "half-open", "unknown")
export type BreakerState = typeof BreakerState.Type

/**
 * How often each runner records its breaker in Postgres; `GET /cluster` ignores a record three
 * intervals old (its runner is gone).
 */
export const breakerRecordSeconds = 2

/** Runners, slice ownership and the breaker. */
export class ClusterStatus extends Schema.Class<ClusterStatus>("ClusterStatus")({
  runners: Schema.Array(RunnerStatus),
  /** Slices no runner holds right now. */
  unownedSlices: Schema.Array(Schema.Int),
  totalSlices: Schema.Int,
  breaker: Schema.Struct({ state: BreakerState, detail: Schema.String })
}) {}

/** Lateness (sent − due) of greetings sent in a recent window. */
export class Lateness extends Schema.Class<Lateness>("Lateness")({
  windowSeconds: Schema.Int,
  samples: Schema.Int,
  p50Ms: Schema.NullOr(Schema.Number),
  p99Ms: Schema.NullOr(Schema.Number)
}) {}

/** Ledger counts per state, lateness over the last hour and the backlog of due, unsent greetings. */
export class LedgerStats extends Schema.Class<LedgerStats>("LedgerStats")({
  states: Schema.Record({ key: Schema.String, value: Schema.Int }),
  lateness: Lateness,
  /** Occurrences already due and not yet sent (pending, enqueued, sending or retrying). */
  pendingBacklog: Schema.Int,
  at: Schema.DateTimeUtc
}) {}

/** Operator views behind `birthday cluster status` and `birthday stats`. */
export class OperationsGroup extends HttpApiGroup.make("operations")
  .add(
    HttpApiEndpoint.get("cluster", "/cluster")
      .annotate(OpenApi.Summary, "Cluster status")
      .addSuccess(ClusterStatus)
      .annotate(OpenApi.Description, "Runners, the slices each holds with resident occurrence counts, breaker state.")
  )
  .add(
    HttpApiEndpoint.get("stats", "/stats")
      .annotate(OpenApi.Summary, "Ledger statistics")
      .addSuccess(LedgerStats)
      .annotate(OpenApi.Description, "Occurrences per ledger state, lateness p50/p99 over the last hour, backlog.")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Description, "Operator views: runners, slices, breaker, ledger counts.")
{}
