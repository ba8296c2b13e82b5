import { StartupFailure } from "@birthday/domain"
import { waitingAtStart } from "@birthday/domain/WaitingAtStart"
import * as Reactivity from "@effect/experimental/Reactivity"
import { NodeContext } from "@effect/platform-node"
import { SqlClient, SqlError } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import type { Loader, ResolvedMigration } from "@effect/sql/Migrator"
import type * as Statement from "@effect/sql/Statement"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import pg from "pg"
import { DatabaseTimeouts, DatabaseUrl } from "./LedgerConfig.js"

/** Our own migrations table, apart from the cluster's `cluster_migrations`. */
export const migrationsTable = "app_migrations"

const migrationsDirectory = fileURLToPath(new URL("./migrations", import.meta.url))

/**
 * Every `NNNN_name.ts` file in ./migrations, in id order. The import happens in this module (not
 * inside @effect/sql) so that whichever TypeScript loader runs us (tsx, vitest) also loads them.
 */
const migrationLoader: Loader = Effect.sync(() =>
  readdirSync(migrationsDirectory)
    .flatMap((file): Array<ResolvedMigration> => {
      const match = /^((\d+)_([^.]+))\.ts$/.exec(file)
      if (!match) return []
      const base = match[1]!
      return [[Number(match[2]), match[3]!, Effect.promise(() => import(`./migrations/${base}.ts`))]]
    })
    .sort(([a], [b]) => a - b)
)

const DATE_OID = 1082

/** Dates stay `YYYY-MM-DD` strings: a JS `Date` at UTC midnight is the classic off-by-one. */
const types: pg.CustomTypesConfig = {
  getTypeParser:
    ((oid: number, format?: "text" | "binary") =>
      oid === DATE_OID ? (value: string) => value : pg.types.getTypeParser(oid, format)) as never
}

/**
 * Creates the database named in `url` when it does not exist, so a fresh machine needs no manual
 * step. Concurrent starters race harmlessly: "already exists" is success.
 */
export const ensureDatabase = (url: Redacted.Redacted) =>
  Effect.tryPromise({
    try: async (signal) => {
      const target = new URL(Redacted.value(url))
      const name = decodeURIComponent(target.pathname.replace(/^\//, "")) || "postgres"
      const admin = new URL(target.toString())
      admin.pathname = "/postgres"
      const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 })
      // A failure reaches the pending call below; as an 'error' event without a listener it would
      // crash the process (a Ctrl-C during start-up stops Postgres under this client).
      client.on("error", () => {})
      signal.addEventListener("abort", () => void client.end().catch(() => {}))
      await client.connect()
      try {
        const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])
        if (found.rowCount === 0) {
          await client.query(`CREATE DATABASE "${name.replaceAll("\"", "\"\"")}"`).catch((error: { code?: string }) => {
            if (error.code !== "42P04" && error.code !== "23505") throw error
          })
        }
      } finally {
        await client.end()
      }
    },
    catch: (cause) => databaseFailure(url, cause)
  }).pipe(Effect.withSpan("Database.ensureDatabase"))

/** Why the database could not be prepared, naming `DATABASE_URL` and what to do. */
const databaseFailure = (url: Redacted.Redacted, cause: unknown): StartupFailure => {
  const target = new URL(Redacted.value(url))
  const where = `${target.hostname}:${target.port || "5432"}`
  const code = (cause as { code?: string }).code
  const reason = cause instanceof AggregateError ? cause.errors.map(String).join(", ") : String(cause)
  return code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ETIMEDOUT" || code === "EHOSTUNREACH"
    ? new StartupFailure({
      problem: `cannot reach Postgres at ${where}, ${code}`,
      setting: "DATABASE_URL",
      fix:
        "start Postgres there or point DATABASE_URL at one (`pnpm start` runs an embedded one when DATABASE_URL is unset)"
    })
    : new StartupFailure({
      problem: `cannot prepare database ${target.pathname.slice(1)} on ${where}: ${reason}`,
      setting: "DATABASE_URL",
      fix: "check its user, password and database name"
    })
}

/** `url` with the statement and query timeouts as connection parameters (pg reads them from it). */
const withTimeouts = (url: Redacted.Redacted, statementTimeout: Duration.Duration) => {
  const target = new URL(Redacted.value(url))
  const ms = Math.max(1, Math.round(Duration.toMillis(statementTimeout)))
  if (!target.searchParams.has("statement_timeout")) target.searchParams.set("statement_timeout", String(ms))
  if (!target.searchParams.has("query_timeout")) target.searchParams.set("query_timeout", String(ms + 5_000))
  return Redacted.make(target.toString())
}

/**
 * The `pg` pool behind the SqlClient, for the server's hot routes, which skip @effect/sql's
 * per-query machinery (~100–150 µs of CPU per query on top of raw pg): FastUserRead's read and a
 * create's one statement (`executeOnPool`). Everything else uses the SqlClient; both draw from
 * this pool, so there is one set of connections, one `max` and one set of timeouts.
 */
export class PgPool extends Context.Tag("@birthday/ledger/PgPool")<PgPool, pg.Pool>() {}

/**
 * Runs `statement` on `pool` as the SqlClient would send it (its compiled text and parameters,
 * the same SqlError on failure), outside any transaction and without the client's per-query work
 * (connection scope, span, cancellation on interrupt: an interrupted statement runs to its end).
 */
export const executeOnPool = <A>(pool: pg.Pool, statement: Statement.Statement<A>) =>
  Effect.async<ReadonlyArray<A>, SqlError.SqlError>((resume) => {
    const [text, params] = statement.compile()
    pool.query(text, params as Array<unknown>).then(
      (result) => resume(Effect.succeed(result.rows)),
      (cause) => resume(Effect.fail(new SqlError.SqlError({ cause, message: "Failed to execute statement" })))
    )
  })

/**
 * A Postgres pool on `url` with the connect and statement timeouts of `DatabaseTimeouts`,
 * creating the database first when needed, and waiting (one log line) while Postgres is down.
 * The pool is made here (as `PgClient.make` makes it) and handed to `PgClient.fromPool`, so that
 * it can be provided as `PgPool` too.
 */
export const pgLayer = (
  url: Redacted.Redacted,
  options: { readonly maxConnections?: number; readonly idleTimeout?: Duration.Duration } = {}
) =>
  waitingAtStart(
    Layer.unwrapEffect(
      Effect.gen(function*() {
        const { connectTimeout, statementTimeout } = yield* DatabaseTimeouts
        yield* ensureDatabase(url)
        return Layer.scopedContext(Effect.gen(function*() {
          const pool = yield* Effect.acquireRelease(
            Effect.sync(() => {
              const pool = new pg.Pool({
                connectionString: Redacted.value(withTimeouts(url, statementTimeout)),
                connectionTimeoutMillis: Duration.toMillis(connectTimeout),
                max: options.maxConnections ?? 20,
                ...(options.idleTimeout === undefined
                  ? {}
                  : { idleTimeoutMillis: Duration.toMillis(options.idleTimeout) }),
                application_name: "birthday-scheduler",
                types
              })
              // A broken idle connection is dropped by the pool; the next query reports it.
              pool.on("error", () => {})
              return pool
            }),
            (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
          )
          const client = yield* PgClient.fromPool({
            acquire: Effect.tryPromise({
              try: () => pool.query("SELECT 1"),
              catch: (cause) => new SqlError.SqlError({ cause, message: "PgClient: Failed to connect" })
            }).pipe(
              Effect.timeoutFail({
                duration: connectTimeout,
                onTimeout: () =>
                  new SqlError.SqlError({
                    cause: new Error("Connection timed out"),
                    message: "PgClient: Connection timed out"
                  })
              }),
              Effect.as(pool)
            ),
            applicationName: "birthday-scheduler",
            types
          })
          return Context.make(PgClient.PgClient, client).pipe(
            Context.add(SqlClient.SqlClient, client),
            Context.add(PgPool, pool)
          )
        })).pipe(Layer.provide(Reactivity.layer))
      })
    ),
    `Postgres at ${new URL(Redacted.value(url)).host}`
  ).pipe(Layer.orDie)

/** The Postgres pool from `DATABASE_URL`. */
export const PgLive = Layer.unwrapEffect(Effect.map(DatabaseUrl, (url) => pgLayer(url))).pipe(Layer.orDie)

/** The advisory lock (two-key form: apart from the cluster's one-key shard locks) the migrations table is made under. */
const migrationLock = [0x62646179, 1] as const

/**
 * Applies the app's migrations at start (serialised by the migrator's table lock). The migrator
 * creates its table when `SELECT 'table'::regclass` fails, with a plain `CREATE TABLE`: processes
 * starting together on a fresh database (`pnpm start`: the API and a runner) raced there, and the
 * loser exited 1. So the table is made first, the migrator's own way, one process at a time.
 */
export const MigrationsLive = Layer.effectDiscard(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(
      Effect.zipRight(
        sql`SELECT pg_advisory_xact_lock(${migrationLock[0]}, ${migrationLock[1]})`,
        sql`CREATE TABLE IF NOT EXISTS ${sql(migrationsTable)} (
          migration_id integer primary key,
          created_at timestamp with time zone not null default now(),
          name text not null
        )`
      )
    )
    yield* PgMigrator.run({ loader: migrationLoader, table: migrationsTable })
  })
).pipe(Layer.provide(NodeContext.layer), Layer.orDie)

/** The app's migrations as `[id, name]`, for readiness checks. */
export const knownMigrations = migrationLoader
