import { Config, Duration, Redacted } from "effect"

/** Defaults that work on a machine with local Postgres. */
export const defaults = {
  databaseUrl: "postgres://postgres@127.0.0.1:5432/birthday"
} as const

/** The database URL, shared by every component that talks to Postgres. */
export const DatabaseUrl = Config.redacted("DATABASE_URL").pipe(
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
