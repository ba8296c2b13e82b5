import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"

/** One audited write. */
export interface AuditEntry {
  readonly actor: string
  readonly action: "create" | "update" | "delete" | "import" | "replay"
  readonly entity: string
  readonly entityId: string
  readonly before: unknown
  readonly after: unknown
}

/** Records who changed what, when, with the row before and after; runs inside the caller's transaction. */
export class AuditLog extends Effect.Service<AuditLog>()("@birthday/server/AuditLog", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** The insert of `entry` at `at` as a statement fragment, to run in one round trip with its write. */
    const insertStatement = (entry: AuditEntry, at: Date) =>
      sql`
        INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after)
        VALUES (${at}, ${entry.actor}, ${entry.action}, ${entry.entity}, ${entry.entityId},
                ${entry.before === null ? null : JSON.stringify(entry.before)}::jsonb,
                ${entry.after === null ? null : JSON.stringify(entry.after)}::jsonb)`

    const record = Effect.fn("AuditLog.record")(function*(entry: AuditEntry) {
      yield* insertStatement(entry, new Date(yield* Clock.currentTimeMillis))
    })
    return { insertStatement, record } as const
  })
}) {}
