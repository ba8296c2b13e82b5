import { SqlClient } from "@effect/sql"
import { Clock, Effect, Metric, type MetricPair } from "effect"

/** Occurrences waiting to be sent or given up on, by state and kind (refreshed on each scrape). */
export const deliveryBacklog = Metric.gauge("delivery_backlog", {
  description:
    "Occurrences by ledger state (pending, enqueued, retrying, sending, ambiguous, dead) and kind; pending counts next years' too"
})

/** Occurrences already due and not yet sent or settled: what a lagging delivery leaves behind. */
export const deliveryOverdue = Metric.gauge("delivery_overdue", {
  description: "Occurrences due (dueAt passed) but not yet sent: pending, enqueued, sending or retrying, by kind"
})

const backlogStates = ["pending", "enqueued", "sending", "retrying", "ambiguous", "dead"] as const
const unsentStates = new Set<string>(["pending", "enqueued", "sending", "retrying"])

type Gauge = typeof deliveryBacklog

/**
 * Sets `gauge` for every tag set in `values` and drops the ones it set before (found in `before`,
 * a snapshot of the registry) and that are gone now to zero, rather than leaving them standing.
 */
const setAll = (
  gauge: Gauge,
  name: string,
  values: ReadonlyArray<readonly [Record<string, string>, number]>,
  before: ReadonlyArray<MetricPair.MetricPair.Untyped>
) =>
  Effect.gen(function*() {
    const id = (tags: Record<string, string>) => JSON.stringify(Object.entries(tags).sort())
    const set = (tags: Record<string, string>, value: number) =>
      Metric.set(Object.entries(tags).reduce((metric, [key, tag]) => Metric.tagged(metric, key, tag), gauge), value)
    const seen = new Set(values.map(([tags]) => id(tags)))
    for (const [tags, value] of values) yield* set(tags, value)
    for (const pair of before) {
      if (pair.metricKey.name !== name) continue
      const tags = Object.fromEntries(pair.metricKey.tags.map((tag) => [tag.key, tag.value]))
      if (!seen.has(id(tags))) yield* set(tags, 0)
    }
  })

/** Reads the backlog from the ledger into the `delivery_backlog` and `delivery_overdue` gauges; failures only log. */
export const refreshDeliveryBacklog = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const now = new Date(yield* Clock.currentTimeMillis)
  const rows = yield* sql<{ state: string; kind: string; count: string; overdue: string }>`
    SELECT state, kind, count(*) AS count, count(*) FILTER (WHERE due_at <= ${now}) AS overdue FROM occurrences
    WHERE state IN ${sql.in(backlogStates)}
    GROUP BY state, kind`
  const overdue = new Map<string, number>()
  for (const row of rows) {
    if (unsentStates.has(row.state)) overdue.set(row.kind, (overdue.get(row.kind) ?? 0) + Number(row.overdue))
  }
  const before = yield* Metric.snapshot
  yield* setAll(
    deliveryBacklog,
    "delivery_backlog",
    rows.map((row) => [{ state: row.state, kind: row.kind }, Number(row.count)]),
    before
  )
  yield* setAll(deliveryOverdue, "delivery_overdue", [...overdue].map(([kind, count]) => [{ kind }, count]), before)
}).pipe(
  Effect.timeout("2 seconds"),
  Effect.catchAllCause((cause) => Effect.logWarning("Cannot read the delivery backlog", cause)),
  Effect.withSpan("DeliveryBacklog.refresh")
)
