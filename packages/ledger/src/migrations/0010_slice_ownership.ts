import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Which runner holds each slice, since when, and how many occurrences it keeps in memory.
  yield* sql`
    CREATE TABLE slice_ownership (
      slice integer PRIMARY KEY,
      runner text,
      since timestamptz,
      resident integer NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL
    )`
  // Catch-up and tzdata recompute read a slice's pending rows by tzdata release.
  yield* sql`CREATE INDEX occurrences_pending_slice_tzdata ON occurrences (slice, tzdata) WHERE state = 'pending'`
})
