import { checkUrl } from "@birthday/domain/UrlSetting"
import { Config, Duration, Redacted } from "effect"

/** Defaults that work on a machine with local Postgres. */
export const defaults = {
  databaseUrl: "postgres://postgres@127.0.0.1:5432/birthday"
} as const

const postgresUrl = checkUrl(["postgres:", "postgresql:"], "postgres://user:password@host:5432/database")

/**
 * The database URL, shared by every component that talks to Postgres; a malformed one fails the
 * start naming DATABASE_URL and what is wrong (never the URL, which may hold a password).
 */
export const DatabaseUrl = Config.string("DATABASE_URL").pipe(
  // Checked on the plain value (a check after Config.redacted's mapping loses the setting's name),
  // redacted at once.
  Config.mapOrFail(postgresUrl),
  Config.map(Redacted.make),
  Config.withDefault(Redacted.make(defaults.databaseUrl)),
  Config.withDescription("Postgres connection URL; the database is created at start when missing")
)

/**
 * How long a connection attempt and a statement may take. A black-holed database must fail the
 * caller (a claim, an outcome write) instead of hanging it: the statement timeout is the
 * server's, the query timeout (5 s more) the client's, for when the server cannot answer at all.
 */
export const DatabaseTimeouts = Config.all({
  connectTimeout: Config.duration("DATABASE_CONNECT_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(5)),
    Config.withDescription("Longest wait for a new Postgres connection")
  ),
  statementTimeout: Config.duration("DATABASE_STATEMENT_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(30)),
    Config.withDescription("Longest statement (server-side statement_timeout; the client gives up 5 s later)")
  )
})
