import { Lateness, LedgerStats } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Clock, DateTime, Effect } from "effect"

const latenessWindowSeconds = 3600

/** Aggregates over the occurrence ledger for `GET /stats`. */
export class LedgerStatistics extends Effect.Service<LedgerStatistics>()("@birthday/server/LedgerStatistics", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const snapshot = Effect.gen(function*() {
      const nowMs = yield* Clock.currentTimeMillis
      const now = new Date(nowMs)
      const since = new Date(nowMs - latenessWindowSeconds * 1000)
      const counts = yield* sql<{ state: string; n: number }>`
        SELECT state, count(*)::int AS n FROM occurrences GROUP BY state ORDER BY state`
      const [lateness] = yield* sql<{ samples: number; p50: number | null; p99: number | null }>`
        SELECT count(*)::int AS samples,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
        FROM (SELECT extract(epoch FROM sent_at - due_at)::float8 * 1000 AS ms
              FROM occurrences WHERE state = 'sent' AND sent_at >= ${since}) AS sent`
      const [backlog] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM occurrences
        WHERE state IN ('pending', 'enqueued', 'sending', 'retrying') AND due_at <= ${now}`
      return LedgerStats.make({
        states: Object.fromEntries(counts.map((row) => [row.state, row.n])),
        lateness: Lateness.make({
          windowSeconds: latenessWindowSeconds,
          samples: lateness?.samples ?? 0,
          p50Ms: lateness?.p50 ?? null,
          p99Ms: lateness?.p99 ?? null
        }),
        pendingBacklog: backlog?.n ?? 0,
        at: DateTime.unsafeMake(nowMs)
      })
    }).pipe(Effect.orDie, Effect.withSpan("LedgerStatistics.snapshot"))

    return { snapshot } as const
  })
}) {}
