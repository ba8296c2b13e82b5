import { Config, Redacted } from "effect"

/** Defaults that work on a machine with local Postgres. */
export const defaults = {
  databaseUrl: "postgres://postgres@127.0.0.1:5432/birthday"
} as const

/** The database URL, shared by every component that talks to Postgres. */
export const DatabaseUrl = Config.redacted("DATABASE_URL").pipe(
  Config.withDefault(Redacted.make(defaults.databaseUrl)),
  Config.withDescription("Postgres connection URL; the database is created at start when missing")
)
