import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The delivery write path runs at thousands of rows per second: the attempt history is
  // append-only and written only for keys the same statement just updated, so the per-row
  // foreign-key check buys nothing; and every index on `occurrences` is touched by each state
  // change (no HOT update), so the kind/due index goes (bulk replay filters by state first).
  yield* sql`ALTER TABLE delivery_attempts DROP CONSTRAINT IF EXISTS delivery_attempts_key_fkey`
  yield* sql`DROP INDEX IF EXISTS occurrences_kind_due`
})
