import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // A slice's new holder reads the slice's `enqueued` rows to publish their commands again
  // (DeliveryLedger.enqueuedInSlice); without this it read every enqueued row of the system.
  yield* sql`
    CREATE INDEX IF NOT EXISTS occurrences_enqueued_slice
    ON occurrences (slice, key) WHERE state = 'enqueued'`
})
