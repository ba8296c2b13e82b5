import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** `slice_ownership`: which runner holds each slice, since when, and how many timers it holds. */
export class SliceOwnership extends Effect.Service<SliceOwnership>()("@birthday/runner/SliceOwnership", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Records that `runner` holds `slice` from `now` on. */
    const claim = Effect.fn("SliceOwnership.claim")(
      function*(slice: number, runner: string, resident: number, now: number) {
        yield* sql`
        INSERT INTO slice_ownership (slice, runner, since, resident, updated_at)
        VALUES (${slice}, ${runner}, to_timestamp(${now} / 1000.0), ${resident}, to_timestamp(${now} / 1000.0))
        ON CONFLICT (slice) DO UPDATE SET runner = EXCLUDED.runner, since = EXCLUDED.since,
          resident = EXCLUDED.resident, updated_at = EXCLUDED.updated_at`
      }
    )

    /** Updates the resident count, only while `runner` still holds the slice. */
    const report = Effect.fn("SliceOwnership.report")(
      function*(slice: number, runner: string, resident: number, now: number) {
        yield* sql`
        UPDATE slice_ownership SET resident = ${resident}, updated_at = to_timestamp(${now} / 1000.0)
        WHERE slice = ${slice} AND runner = ${runner}`
      }
    )

    /** Clears the owner when the slice stops here (a new owner may already have claimed it). */
    const release = Effect.fn("SliceOwnership.release")(function*(slice: number, runner: string, now: number) {
      yield* sql`
        UPDATE slice_ownership SET runner = NULL, resident = 0, updated_at = to_timestamp(${now} / 1000.0)
        WHERE slice = ${slice} AND runner = ${runner}`
    })

    return { claim, report, release } as const
  })
}) {}
