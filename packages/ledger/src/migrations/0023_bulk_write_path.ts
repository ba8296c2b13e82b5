import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Every index is paid for by each of the million rows an import or a year of scheduling writes.
  // These three have no reader: listing users walks the primary key (live rows filtered), nothing
  // selects users by slice, and the per-slice tzdata check walks the slice's pending rows through
  // `occurrences_pending_slice_due` once per slice start.
  yield* sql`DROP INDEX IF EXISTS users_live_id`
  yield* sql`DROP INDEX IF EXISTS users_slice`
  yield* sql`DROP INDEX IF EXISTS occurrences_pending_slice_tzdata`
  // The user foreign key of the ledger costs a row lock on the user per occurrence written (a
  // quarter of an occurrence insert, measured). Occurrences are only ever written in the transaction
  // that writes or reads their user, and users are never removed (deletes are soft), so it guards
  // nothing the write path does not already guarantee.
  yield* sql`ALTER TABLE occurrences DROP CONSTRAINT IF EXISTS occurrences_user_id_fkey`
})
