import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** `slice_ownership`: which runner holds each slice, since when, and how many timers it holds. */
export class SliceOwnership extends Effect.Service<SliceOwnership>()("@birthday/runner/SliceOwnership", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /**
     * Records that `runner` holds `slice` from `now` on, and returns the new epoch: the fence of
     * this holder's slice rounds (docs/ledger.md). A previous holder that still fires is refused.
     */
    const claim = Effect.fn("SliceOwnership.claim")(
      function*(slice: number, runner: string, resident: number, now: number) {
        const [row] = yield* sql<{ epoch: number }>`
        INSERT INTO slice_ownership (slice, runner, since, resident, updated_at, epoch)
        VALUES (${slice}, ${runner}, to_timestamp(${now} / 1000.0), ${resident}, to_timestamp(${now} / 1000.0), 1)
        ON CONFLICT (slice) DO UPDATE SET runner = EXCLUDED.runner, since = EXCLUDED.since,
          resident = EXCLUDED.resident, updated_at = EXCLUDED.updated_at, epoch = slice_ownership.epoch + 1
        RETURNING epoch::float8 AS epoch`
        return row!.epoch
      }
    )

    /** Updates the resident count, only while this holder (`epoch`) still holds the slice. */
    const report = Effect.fn("SliceOwnership.report")(
      function*(slice: number, epoch: number, resident: number, now: number) {
        yield* sql`
        UPDATE slice_ownership SET resident = ${resident}, updated_at = to_timestamp(${now} / 1000.0)
        WHERE slice = ${slice} AND epoch = ${epoch}`
      }
    )

    /** Clears the owner when the slice stops here (a new owner may already have claimed it). */
    const release = Effect.fn("SliceOwnership.release")(function*(slice: number, epoch: number, now: number) {
      yield* sql`
        UPDATE slice_ownership SET runner = NULL, resident = 0, updated_at = to_timestamp(${now} / 1000.0)
        WHERE slice = ${slice} AND epoch = ${epoch}`
    })

    return { claim, report, release } as const
  })
}) {}
