import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // One row per greeting of one kind to one user in one year: the delivery ledger.
  yield* sql`
    CREATE TABLE occurrences (
      key text PRIMARY KEY,
      kind text NOT NULL,
      user_id uuid NOT NULL REFERENCES users (id),
      year integer NOT NULL,
      slice integer NOT NULL,
      local_date date NOT NULL,
      due_at timestamptz NOT NULL,
      deadline_at timestamptz NOT NULL,
      state text NOT NULL CHECK (state IN (
        'pending', 'enqueued', 'sending', 'sent', 'retrying', 'dead', 'ambiguous', 'expired', 'cancelled'
      )),
      tzdata text NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      enqueued_at timestamptz,
      sent_at timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`
  yield* sql`CREATE INDEX occurrences_pending_slice_due ON occurrences (slice, due_at) WHERE state = 'pending'`
  yield* sql`CREATE INDEX occurrences_user ON occurrences (user_id, kind, year)`
  yield* sql`CREATE INDEX occurrences_state_due ON occurrences (state, due_at)`
})
