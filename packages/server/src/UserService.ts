import {
  FieldIssue,
  SliceHorizonConfig,
  SlicesConfig,
  User,
  UserInput,
  UserNotFound,
  UserPage,
  ValidationError
} from "@birthday/domain"
import { executeOnPool, PgPool } from "@birthday/ledger/Database"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { AuditLog } from "./AuditLog.js"
import { checkIdempotencyKey, IdempotencyStore, requestHash } from "./IdempotencyStore.js"
import { timeOrderedUuids } from "./TimeOrderedUuid.js"
import {
  catchEmailConflict,
  userColumns,
  userFromRow,
  type UserJson,
  userJsonFromRow,
  UserRepository,
  type UserRow
} from "./UserRepository.js"
import { validateUserInput } from "./UserValidation.js"

const encodeUser = Schema.encodeSync(User)
const encodeInput = Schema.encodeSync(UserInput)

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Ids that are not UUIDs cannot name a user; answer 404 without asking Postgres to cast them. */
const requireUuid = (id: string) => uuidPattern.test(id) ? Effect.void : Effect.fail(UserNotFound.of(id))

const encodeCursor = (id: string) => Buffer.from(id).toString("base64url")
const decodeCursor = (cursor: string) =>
  Effect.gen(function*() {
    const id = Buffer.from(cursor, "base64url").toString()
    if (!uuidPattern.test(id)) {
      return yield* ValidationError.fromIssues([
        new FieldIssue({ field: "cursor", reason: "is not a cursor returned by this API" })
      ])
    }
    return id
  })

const parseLimit = (text: Option.Option<string>) => {
  if (Option.isNone(text)) return Effect.succeed(100)
  const limit = Number(text.value)
  return Number.isInteger(limit) && limit >= 1 && limit <= 500 && /^\d+$/.test(text.value)
    ? Effect.succeed(limit)
    : ValidationError.fromIssues([new FieldIssue({ field: "limit", reason: "must be an integer from 1 to 500" })])
}

/** The users use cases: validation, one transaction per write with its audit entry, idempotent create. */
export class UserService extends Effect.Service<UserService>()("@birthday/server/UserService", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pool = yield* PgPool
    const users = yield* UserRepository
    const audit = yield* AuditLog
    const idempotency = yield* IdempotencyStore
    const slices = yield* SlicesConfig
    const ledger = yield* OccurrenceLedger

    const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))
    const snapshot = (row: UserRow) => encodeUser(userFromRow(row))

    const horizonMs = Duration.toMillis(yield* SliceHorizonConfig)
    const withinHorizon = (due: Option.Option<number>, now: number) => Option.isSome(due) && due.value < now + horizonMs

    /**
     * Occurrences follow the user in the same transaction. The owning slice hears of it on commit,
     * but only when an occurrence due within the slice horizon changed: no slice holds a later one
     * in memory, and NOTIFY serialises commits on a global lock, so it is kept for the few users
     * whose greeting is near.
     */
    const syncOccurrences = (row: UserRow, change: "update" | "delete", at: Date) =>
      Effect.gen(function*() {
        const now = at.getTime()
        const subject = { id: row.id, timeZone: row.time_zone, birthday: row.birthday, anniversary: row.anniversary }
        const before = yield* ledger.nextOpenDue(row.id)
        if (change === "delete") yield* ledger.cancelUser(row.id, now)
        else yield* ledger.reconcileUser(row.id, row.slice, Option.some(subject), now)
        const after = change === "delete" ? Option.none<number>() : yield* ledger.nextOpenDue(row.id)
        if (withinHorizon(before, now) || withinHorizon(after, now)) yield* ledger.notifyChange(row.slice, row.id)
      })

    /**
     * Writes a new user with its first occurrences and its audit row in one statement: atomic on
     * its own (no BEGIN/COMMIT round trips, a create's three statements were four round trips in a
     * transaction) and inside the caller's transaction when there is one. The row is known before
     * it is written (the database adds nothing). The owning slice is notified in the same
     * statement when the soonest occurrence is within the slice horizon (see `syncOccurrences`).
     */
    const insertNew = (input: UserInput, actor: string, inTransaction: boolean) =>
      Effect.gen(function*() {
        const at = yield* now
        const nowMs = at.getTime()
        // Time-ordered, like imported users: new rows land at the right edge of the id index.
        const id = timeOrderedUuids(1, nowMs)[0]!
        const row: UserRow = {
          ...userColumns(id, input, slices),
          created_at: at,
          updated_at: at
        }
        const user = userJsonFromRow(row)
        // A new user has no ledger to reconcile: its first occurrences are all there is to store.
        const subject = { id, timeZone: row.time_zone, birthday: row.birthday, anniversary: row.anniversary }
        const first = ledger.firstOccurrences([{ subject, slice: row.slice }], nowMs)
        const soonest = Option.fromNullable(first.map((item) => item.occurrence.dueAt).sort((a, b) => a - b)[0])
        const audited = audit.insertStatement(
          { actor, action: "create", entity: "user", entityId: id, before: null, after: user },
          at
        )
        const scheduled = first.length === 0 ?
          sql.literal("") :
          sql`, scheduled AS (${ledger.pendingStatement(first, nowMs)})`
        // A SELECT in a WITH runs only when read: the final SELECT reads it.
        const notify = withinHorizon(soonest, nowMs)
        const notified = notify ? sql`, notified AS (${ledger.notifyStatement(row.slice, id)})` : sql.literal("")
        const statement = sql`
          WITH created AS (${users.insertStatement(row)}), audited AS (${audited})${scheduled}${notified}
          SELECT id FROM created${sql.literal(notify ? ", notified" : "")}`
        // Outside a transaction, on the pool itself: a fifth of a create's CPU was this one
        // statement's way through the SqlClient.
        yield* (inTransaction ? statement : executeOnPool(pool, statement)).pipe(catchEmailConflict(input.email))
        return user
      })

    const create = Effect.fn("UserService.create")(
      function*(body: unknown, actor: string, idempotencyKey: Option.Option<string>) {
        if (Option.isSome(idempotencyKey)) yield* checkIdempotencyKey(idempotencyKey.value)
        const input = yield* validateUserInput(body)
        if (Option.isNone(idempotencyKey)) {
          return yield* insertNew(input, actor, false).pipe(Effect.catchTag("SqlError", Effect.die))
        }
        const key = idempotencyKey.value
        return yield* Effect.gen(function*() {
          // A retry is recognised by what it asks for (the validated input), not by its spelling.
          const claimed = yield* idempotency.claim(actor, key, requestHash(encodeInput(input)))
          if (claimed.replay) return claimed.response as UserJson
          const user = yield* insertNew(input, actor, true)
          yield* idempotency.complete(actor, key, 201, user)
          return user
        }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))
      },
      (effect, _body, actor) => Effect.annotateLogs(effect, { actor })
    )

    /** A live user as the API's JSON (see `userJsonFromRow`). */
    const get = Effect.fn("UserService.get")(function*(id: string) {
      yield* requireUuid(id)
      const row = yield* users.findLive(id).pipe(Effect.orDie)
      if (Option.isNone(row)) return yield* UserNotFound.of(id)
      return userJsonFromRow(row.value)
    })

    const list = Effect.fn("UserService.list")(
      function*(cursor: Option.Option<string>, limitText: Option.Option<string>) {
        const limit = yield* parseLimit(limitText)
        const after = Option.isSome(cursor) ? Option.some(yield* decodeCursor(cursor.value)) : Option.none()
        const rows = yield* users.list(after, limit + 1).pipe(Effect.orDie)
        const items = rows.slice(0, limit).map(userFromRow)
        const nextCursor = rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null
        return UserPage.make({ items, nextCursor })
      }
    )

    const update = Effect.fn("UserService.update")(function*(id: string, body: unknown, actor: string) {
      yield* requireUuid(id)
      const input = yield* validateUserInput(body)
      return yield* Effect.gen(function*() {
        const before = yield* users.findLive(id, true)
        if (Option.isNone(before)) return yield* UserNotFound.of(id)
        const at = yield* now
        const after = yield* users.update(id, input, at)
        if (Option.isNone(after)) return yield* UserNotFound.of(id)
        yield* syncOccurrences(after.value, "update", at)
        yield* audit.record({
          actor,
          action: "update",
          entity: "user",
          entityId: id,
          before: snapshot(before.value),
          after: snapshot(after.value)
        })
        return userFromRow(after.value)
      }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))
    })

    const remove = Effect.fn("UserService.remove")(function*(id: string, actor: string) {
      yield* requireUuid(id)
      yield* Effect.gen(function*() {
        const at = yield* now
        const deleted = yield* users.softDelete(id, at)
        if (Option.isNone(deleted)) return yield* UserNotFound.of(id)
        yield* syncOccurrences(deleted.value, "delete", at)
        yield* audit.record({
          actor,
          action: "delete",
          entity: "user",
          entityId: id,
          before: snapshot(deleted.value),
          after: null
        })
      }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die))
    })

    return { create, get, list, update, remove } as const
  }),
  dependencies: [UserRepository.Default, AuditLog.Default, IdempotencyStore.Default, OccurrenceLedger.Default]
}) {}
