import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Each runner's circuit breaker per provider, as the runner last recorded it (it rewrites its row
  // every few seconds, so a stale `updated_at` means the runner is gone): `GET /cluster` reads it.
  yield* sql`
    CREATE TABLE provider_breakers (
      runner text NOT NULL,
      provider text NOT NULL,
      state text NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
      since timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (runner, provider)
    )`
})
