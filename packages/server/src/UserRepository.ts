import { EmailTaken, sliceOf, User, type UserInput } from "@birthday/domain"
import { SqlClient, SqlError } from "@effect/sql"
import { DateTime, Effect, Option } from "effect"

/** A `users` row as Postgres returns it (dates as `YYYY-MM-DD` strings). */
export interface UserRow {
  readonly id: string
  readonly first_name: string
  readonly last_name: string
  readonly email: string
  readonly birthday: string
  readonly anniversary: string | null
  readonly time_zone: string
  readonly slice: number
  readonly created_at: Date
  readonly updated_at: Date
}

/** The columns of a new user's row from its input, all but the timestamps (a create and an import alike). */
export const userColumns = (
  id: string,
  input: UserInput,
  slices: number
): Omit<UserRow, "created_at" | "updated_at"> => ({
  id,
  first_name: input.firstName,
  last_name: input.lastName,
  email: input.email,
  birthday: input.birthday,
  anniversary: input.anniversary ?? null,
  time_zone: input.timeZone,
  slice: sliceOf(id, slices)
})

/** A user as the API's JSON carries it (what `Schema.encode(User)` gives, field for field). */
export interface UserJson {
  readonly id: string
  readonly firstName: string
  readonly lastName: string
  readonly email: string
  readonly birthday: string
  readonly timeZone: string
  readonly anniversary: string | null
  readonly createdAt: string
  readonly updatedAt: string
}

/**
 * A row as the API's JSON, built directly: the hot read and create paths answer with it instead
 * of building a `User` and encoding it through its schema (a fifth of a read's CPU). The
 * equivalence with the schema encoding is checked by UserJson.test.ts.
 */
export const userJsonFromRow = (row: UserRow): UserJson => ({
  id: row.id,
  firstName: row.first_name,
  lastName: row.last_name,
  email: row.email,
  birthday: row.birthday,
  timeZone: row.time_zone,
  anniversary: row.anniversary,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

/** Maps a row to the API's `User` (rows are valid users: the constructor does not re-check them). */
export const userFromRow = (row: UserRow): User =>
  new User({
    id: row.id as User["id"],
    firstName: row.first_name,
    lastName: row.last_name,
    email: row.email,
    birthday: row.birthday as User["birthday"],
    anniversary: row.anniversary as User["anniversary"],
    timeZone: row.time_zone,
    createdAt: DateTime.unsafeFromDate(row.created_at),
    updatedAt: DateTime.unsafeFromDate(row.updated_at)
  }, true)

const isEmailConflict = (error: SqlError.SqlError): boolean => {
  const cause = error.cause as { code?: string; constraint?: string } | undefined
  return cause?.code === "23505" && cause.constraint === "users_live_email"
}

/** Turns the live-email unique violation into `EmailTaken`; other SQL failures stay SqlErrors. */
export const catchEmailConflict = (email: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    // A predicate, not a refinement: the other SqlErrors stay in the error type.
    (error): boolean => error instanceof SqlError.SqlError && isEmailConflict(error),
    () => Effect.fail(EmailTaken.of(email))
  )

const columns = "id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at, updated_at"

/** `findLive` as one statement text (`$1` the id), for FastUserRead, which runs it on raw pg. */
export const liveUserStatement = `SELECT ${columns} FROM users WHERE id = $1 AND deleted_at IS NULL`

/** SQL access to `users`. Writes run inside the caller's transaction. */
export class UserRepository extends Effect.Service<UserRepository>()("@birthday/server/UserRepository", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /**
     * The insert of a new user as a statement fragment (`RETURNING id`), for a caller that runs it
     * together with what must commit with it (the audit row) in one round trip.
     */
    const insertStatement = (row: UserRow) =>
      sql`
        INSERT INTO users (id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at, updated_at)
        VALUES (${row.id}, ${row.first_name}, ${row.last_name}, ${row.email}, ${row.birthday},
                ${row.anniversary}, ${row.time_zone}, ${row.slice}, ${row.created_at}, ${row.updated_at})
        RETURNING id`

    const findLive = Effect.fn("UserRepository.findLive")(function*(id: string, forUpdate = false) {
      const rows = yield* sql<UserRow>`
        SELECT ${sql.literal(columns)} FROM users
        WHERE id = ${id} AND deleted_at IS NULL ${sql.literal(forUpdate ? "FOR UPDATE" : "")}`
      return Option.fromNullable(rows[0])
    })

    const list = Effect.fn("UserRepository.list")(function*(after: Option.Option<string>, limit: number) {
      return yield* Option.match(after, {
        onNone: () =>
          sql<UserRow>`SELECT ${sql.literal(columns)} FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT ${limit}`,
        onSome: (id) =>
          sql<UserRow>`
            SELECT ${sql.literal(columns)} FROM users
            WHERE deleted_at IS NULL AND id > ${id} ORDER BY id LIMIT ${limit}`
      })
    })

    /**
     * Replaces a live user's fields; none when the user is missing or deleted. `updated_at` never
     * goes backwards: a writer whose timestamp was taken before another one's commit (a DELETE
     * waiting for a PUT's row lock, a process whose clock is behind) keeps the later one.
     */
    const update = Effect.fn("UserRepository.update")(function*(id: string, input: UserInput, now: Date) {
      const rows = yield* sql<UserRow>`
        UPDATE users SET first_name = ${input.firstName}, last_name = ${input.lastName}, email = ${input.email},
          birthday = ${input.birthday}, anniversary = ${input.anniversary ?? null}, time_zone = ${input.timeZone},
          updated_at = GREATEST(updated_at, ${now})
        WHERE id = ${id} AND deleted_at IS NULL
        RETURNING ${sql.literal(columns)}`.pipe(catchEmailConflict(input.email))
      return Option.fromNullable(rows[0])
    })

    /** Marks a live user deleted; none when already gone. Its timestamps never precede `updated_at`. */
    const softDelete = Effect.fn("UserRepository.softDelete")(function*(id: string, now: Date) {
      const rows = yield* sql<UserRow>`
        UPDATE users SET deleted_at = GREATEST(updated_at, ${now}), updated_at = GREATEST(updated_at, ${now})
        WHERE id = ${id} AND deleted_at IS NULL
        RETURNING ${sql.literal(columns)}`
      return Option.fromNullable(rows[0])
    })

    return { insertStatement, findLive, list, update, softDelete } as const
  })
}) {}
