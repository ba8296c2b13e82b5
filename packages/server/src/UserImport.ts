import {
  BulkImportEnvelope,
  BulkImportResult,
  OccasionSettings,
  type Occurrence,
  RejectedRow,
  SliceHorizonConfig,
  sliceOf,
  SlicesConfig,
  type UserInput
} from "@birthday/domain"
import { occurrenceChangesChannel, OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Either, Layer, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { AuditLog } from "./AuditLog.js"
import { validationErrorOf } from "./FieldIssues.js"
import { timeOrderedUuids } from "./TimeOrderedUuid.js"
import { userColumns } from "./UserRepository.js"
import { checkUserInput } from "./UserValidation.js"

const decodeRequest = Schema.decodeUnknownEither(BulkImportEnvelope)

/** The envelope (`{ rows: [{ line, user }] }`) must be right before any row is looked at. */
const requestOf = (body: unknown) =>
  Either.match(decodeRequest(body), {
    // Reasons name the field without echoing its value (a 1 MB line would come back as 2 MB).
    onLeft: (error) => Effect.fail(validationErrorOf(error)),
    onRight: Effect.succeed
  })

interface ValidRow {
  readonly id: string
  readonly line: number
  readonly input: UserInput
}

/**
 * Bulk user import: every row validated like `POST /users`, valid rows inserted in one multi-row
 * statement per batch that skips emails already taken, one audit entry per batch.
 */
export class UserImport extends Effect.Service<UserImport>()("@birthday/server/UserImport", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const audit = yield* AuditLog
    const slices = yield* SlicesConfig
    const ledger = yield* OccurrenceLedger
    // Slices load what falls due within their horizon on their own; only greetings due sooner
    // need the owning slice told at once (a notification per user would flood the runners).
    const notifyWithinMs = Duration.toMillis(yield* SliceHorizonConfig)

    const notifySoonDue = (items: ReadonlyArray<{ occurrence: Occurrence; slice: number }>, now: number) => {
      const soon = items.filter(({ occurrence }) => occurrence.dueAt - now < notifyWithinMs)
      return soon.length === 0 ? Effect.void : sql`
        SELECT pg_notify(${occurrenceChangesChannel}, payload)
        FROM unnest(${soon.map(({ occurrence, slice }) => `${slice}:${occurrence.userId}`)}::text[]) AS payload`
    }

    // One JSON parameter unpacked by Postgres: a 5,000-row batch is one round trip, not 5,000.
    const insertUsers = (rows: ReadonlyArray<ValidRow>, now: Date) =>
      sql<{ id: string }>`
        INSERT INTO users (id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at, updated_at)
        SELECT t.id, t.first_name, t.last_name, t.email, t.birthday, t.anniversary, t.time_zone, t.slice, ${now}, ${now}
        FROM json_to_recordset(${
        JSON.stringify(rows.map(({ id, input }) => userColumns(id, input, slices)))
      }::json) AS t(id uuid, first_name text, last_name text, email text, birthday date, anniversary date,
                    time_zone text, slice integer)
        ON CONFLICT (lower(email)) WHERE deleted_at IS NULL DO NOTHING
        RETURNING id`

    const importBatch = Effect.fn("UserImport.importBatch")(
      function*(body: unknown, actor: string) {
        const request = yield* requestOf(body)
        const valid: Array<ValidRow> = []
        const rejected: Array<RejectedRow> = []
        const nowMs = yield* Clock.currentTimeMillis
        const ids = timeOrderedUuids(request.rows.length, nowMs)
        for (const [index, row] of request.rows.entries()) {
          // The rules of `validateUserInput`, without an effect and a span per row.
          const checked = checkUserInput(row.user, nowMs)
          if (Either.isRight(checked)) valid.push({ id: ids[index]!, line: row.line, input: checked.right })
          else {rejected.push(
              RejectedRow.make({ line: row.line, message: checked.left.message, fields: checked.left.fields })
            )}
        }
        if (valid.length === 0) return BulkImportResult.make({ created: 0, skipped: 0, rejected })
        const now = new Date(nowMs)
        const created = yield* Effect.gen(function*() {
          // A batch lost to a crash right after commit is restored by re-running the file (inserts
          // skip what exists), so the import does not wait for the WAL flush of every batch.
          yield* sql`SET LOCAL synchronous_commit = off`
          const inserted = yield* insertUsers(valid, now)
          if (inserted.length > 0) {
            // Occurrences of the created users belong in this transaction, like a single create.
            const ids = new Set(inserted.map((row) => row.id))
            const occurrences = ledger.firstOccurrences(
              valid.filter((row) => ids.has(row.id)).map((row) => ({
                subject: { ...row.input, id: row.id },
                slice: sliceOf(row.id, slices)
              })),
              now.getTime()
            )
            yield* ledger.storePending(occurrences, now.getTime())
            yield* notifySoonDue(occurrences, now.getTime())
            yield* audit.record({
              actor,
              action: "import",
              entity: "user",
              entityId: `import:${randomUUID()}`,
              before: null,
              after: {
                created: inserted.map((row) => row.id),
                skipped: valid.length - inserted.length,
                rejectedLines: rejected.map((row) => row.line)
              }
            })
          }
          return inserted.length
        }).pipe(sql.withTransaction, Effect.orDie)
        yield* Effect.annotateCurrentSpan({ rows: request.rows.length, created, rejected: rejected.length })
        return BulkImportResult.make({ created, skipped: valid.length - created, rejected })
      },
      (effect, _body, actor) => Effect.annotateLogs(effect, { actor })
    )

    return { importBatch } as const
  }),
  dependencies: [AuditLog.Default, OccurrenceLedger.Default, Layer.orDie(OccasionSettings.layer)]
}) {}
