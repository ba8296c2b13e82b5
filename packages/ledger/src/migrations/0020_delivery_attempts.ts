import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // One row per provider attempt (or decision without one), so an operator sees why a greeting is
  // where it is. Written in batches with the outcome updates.
  yield* sql`
    CREATE TABLE delivery_attempts (
      id bigserial PRIMARY KEY,
      key text NOT NULL REFERENCES occurrences (key),
      attempt integer NOT NULL,
      outcome text NOT NULL,
      status integer,
      error text,
      runner text NOT NULL,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL
    )`
  yield* sql`CREATE INDEX delivery_attempts_key ON delivery_attempts (key, id)`
})
