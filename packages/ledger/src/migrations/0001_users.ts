import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY,
      first_name text NOT NULL,
      last_name text NOT NULL,
      email text NOT NULL,
      birthday date NOT NULL,
      anniversary date,
      time_zone text NOT NULL,
      slice integer NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      deleted_at timestamptz
    )`
  // Uniqueness among live users is the database's job: two concurrent creates, one winner.
  yield* sql`CREATE UNIQUE INDEX users_live_email ON users (lower(email)) WHERE deleted_at IS NULL`
  yield* sql`CREATE INDEX users_live_id ON users (id) WHERE deleted_at IS NULL`
  yield* sql`CREATE INDEX users_slice ON users (slice) WHERE deleted_at IS NULL`
})
