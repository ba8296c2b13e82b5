import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // A replay re-publishes the command under `{key}:replay:{replays}`, so JetStream's dedupe window
  // (keyed on the occurrence key) does not swallow it; the ledger still allows one send.
  yield* sql`ALTER TABLE occurrences ADD COLUMN replays integer NOT NULL DEFAULT 0`
  yield* sql`CREATE INDEX occurrences_kind_due ON occurrences (kind, due_at)`
})
