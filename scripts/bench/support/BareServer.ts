/**
 * The in-run reference of `pnpm bench api`: the same create and read as the API, written on bare
 * `node:http` + `pg` with nothing between them. A create is one transaction (BEGIN, the user, its
 * first occurrences, the audit row, COMMIT), the live email unique by the same index; a read is one
 * SELECT. It validates only the shape it needs, so the ratio is the price of everything else.
 * Run as its own process: `node --import tsx BareServer.ts` with DATABASE_URL and HTTP_PORT.
 */
import { createServer, type ServerResponse } from "node:http"
import pg from "pg"
import { occasionKindsWith } from "../../../packages/domain/src/OccasionSettings.js"
import { nextOccurrence } from "../../../packages/domain/src/OccurrenceCalendar.js"
import { sliceOf } from "../../../packages/domain/src/Slice.js"
import { timeOrderedUuids } from "../../../packages/server/src/TimeOrderedUuid.js"

pg.types.setTypeParser(1082, (value) => value)
const pool = new pg.Pool({ connectionString: process.env["DATABASE_URL"], max: 20 })
const kinds = occasionKindsWith({}).all
const columns = "id, first_name, last_name, email, birthday, anniversary, time_zone, created_at, updated_at"

const send = (response: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}
const asUser = (row: Record<string, any>) => ({
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

const create = async (input: Record<string, string>) => {
  const now = Date.now()
  const id = timeOrderedUuids(1, now)[0]!
  const slice = sliceOf(id, 256)
  const subject = { id, birthday: input.birthday!, anniversary: null, timeZone: input.timeZone! }
  // A new user's first occurrence of each kind: the next one after now (what the ledger stores).
  const first = kinds.flatMap((kind) => {
    const next = nextOccurrence(kind, subject as never, now)
    return next._tag === "Some" ? [next.value] : []
  })
  const client = await pool.connect()
  try {
    await client.query("BEGIN")
    const { rows: [row] } = await client.query(
      `INSERT INTO users (id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $8) RETURNING ${columns}`,
      [id, input.firstName, input.lastName, input.email, input.birthday, input.timeZone, slice, new Date(now)]
    )
    const o = first
    await client.query(
      `INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
                                created_at, updated_at)
       SELECT k, kd, $3, y, $4, ld::date, to_timestamp(d / 1000.0), to_timestamp(d / 1000.0 + 86400), 'pending', tz,
              $5, $5
       FROM unnest($1::text[], $2::text[], $6::int[], $7::text[], $8::float8[], $9::text[]) AS t(k, kd, y, ld, d, tz)
       ON CONFLICT (key) DO NOTHING`,
      [
        o.map((x) => x.key),
        o.map((x) => x.kind),
        id,
        slice,
        new Date(now),
        o.map((x) => x.year),
        o.map((x) => x.localDate),
        o.map((x) => x.dueAt),
        o.map((x) => x.tzdata)
      ]
    )
    const user = asUser(row)
    await client.query(
      `INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after)
       VALUES ($1, 'anonymous', 'create', 'user', $2, NULL, $3::jsonb)`,
      [new Date(now), id, JSON.stringify(user)]
    )
    await client.query("COMMIT")
    return user
  } catch (error) {
    await client.query("ROLLBACK")
    throw error
  } finally {
    client.release()
  }
}

const server = createServer((request, response) => {
  if (request.method === "POST" && request.url === "/users") {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      let input: Record<string, string>
      try {
        input = JSON.parse(Buffer.concat(chunks).toString())
      } catch {
        return send(response, 400, { _tag: "MalformedJson", message: "not JSON" })
      }
      create(input).then(
        (user) => send(response, 201, user),
        (error) => send(response, error.code === "23505" ? 409 : 500, { _tag: "Error", message: String(error) })
      )
    })
    return
  }
  const match = /^\/users\/([0-9a-f-]{36})$/.exec(request.url ?? "")
  if (request.method === "GET" && match) {
    pool.query(`SELECT ${columns} FROM users WHERE id = $1 AND deleted_at IS NULL`, [match[1]]).then(
      ({ rows: [row] }) => row ? send(response, 200, asUser(row)) : send(response, 404, { _tag: "UserNotFound" }),
      (error) => send(response, 500, { _tag: "Error", message: String(error) })
    )
    return
  }
  send(response, 404, { _tag: "RouteNotFound" })
})
server.listen(Number(process.env["HTTP_PORT"]), "127.0.0.1", () => console.log("bare server ready"))
process.on("SIGTERM", () => server.close(() => pool.end().then(() => process.exit(0))))
