import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The ledger's fencing tokens (docs/ledger.md): the command generation a published command
  // carries, the lease of the worker that holds a `sending` row, and when a `retrying` row wants
  // its next attempt. Added with constant defaults: no table rewrite.
  yield* sql`
    ALTER TABLE occurrences
      ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0,
      ADD COLUMN IF NOT EXISTS lease_token uuid,
      ADD COLUMN IF NOT EXISTS lease_until timestamptz,
      ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz`
  // A slice round is fenced by the epoch its runner claimed the slice at.
  yield* sql`ALTER TABLE slice_ownership ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0`
  // The tzdata recompute at slice start looks for the few pending rows of a slice computed under
  // another release; without this it read every pending row of the slice.
  yield* sql`
    CREATE INDEX IF NOT EXISTS occurrences_pending_slice_tzdata
    ON occurrences (slice, tzdata, user_id) WHERE state = 'pending'`
})
