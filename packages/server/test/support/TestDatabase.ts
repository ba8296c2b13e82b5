import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import pg from "pg"

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres"

const admin = <A>(f: (client: pg.Client) => Promise<A>) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    try {
      return await f(client)
    } finally {
      await client.end()
    }
  })

/**
 * A database of its own for one test run, dropped (connections forced off) when the scope
 * closes; the server creates and migrates it on start.
 */
export const testDatabaseUrl = Effect.acquireRelease(
  Effect.sync(() => {
    const name = `birthday_test_${randomBytes(5).toString("hex")}`
    return { name, url: Redacted.make(`postgres://postgres@127.0.0.1:5432/${name}`) }
  }),
  ({ name }) => admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
)

/** Runs one query against a test database outside the server, for assertions. */
export const query = <Row extends Record<string, unknown>>(
  url: Redacted.Redacted,
  text: string,
  values: ReadonlyArray<unknown> = []
) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: Redacted.value(url) })
    await client.connect()
    try {
      return (await client.query(text, values as Array<unknown>)).rows as Array<Row>
    } finally {
      await client.end()
    }
  })
