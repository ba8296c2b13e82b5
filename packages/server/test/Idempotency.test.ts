import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { rawRequest } from "./support/RawHttp.js"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

layer(testServerLayer(), { excludeTestServices: true })("Idempotency-Key on POST /users", (it) => {
  it.effect("a retry with the same key and body returns the original user and creates nothing", () =>
    Effect.gen(function*() {
      const { client, databaseUrl } = yield* TestServer
      const key = randomUUID()
      const body = userInput()
      const first = yield* client.users.create({ payload: body, headers: { "idempotency-key": key } })
      // Same body with its keys in another order is the same request.
      const reordered = Object.fromEntries(Object.entries(body).reverse()) as typeof body
      const second = yield* client.users.create({ payload: reordered, headers: { "idempotency-key": key } })
      expect(second).toEqual(first)
      const rows = yield* query<{ n: string }>(databaseUrl, "SELECT count(*) AS n FROM users WHERE email = $1", [
        body.email
      ])
      expect(Number(rows[0]?.n)).toBe(1)
    }))

  it.effect("the same key with another body is refused with 422", () =>
    Effect.gen(function*() {
      const { baseUrl, client } = yield* TestServer
      const key = randomUUID()
      yield* client.users.create({ payload: userInput(), headers: { "idempotency-key": key } })
      const error = yield* client.users.create({ payload: userInput(), headers: { "idempotency-key": key } }).pipe(
        Effect.flip
      )
      expect(error._tag).toBe("IdempotencyKeyReused")
      const raw = yield* rawRequest(`${baseUrl}/users`, {
        method: "POST",
        body: JSON.stringify(userInput()),
        headers: { "idempotency-key": key }
      })
      expect(raw.status).toBe(422)
    }))

  it.effect("concurrent retries of one key create exactly one user", () =>
    Effect.gen(function*() {
      const { client, databaseUrl } = yield* TestServer
      const key = randomUUID()
      const body = userInput()
      const results = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => client.users.create({ payload: body, headers: { "idempotency-key": key } }),
        { concurrency: "unbounded" }
      )
      expect(new Set(results.map((user) => user.id)).size).toBe(1)
      const rows = yield* query<{ n: string }>(databaseUrl, "SELECT count(*) AS n FROM users WHERE email = $1", [
        body.email
      ])
      expect(Number(rows[0]?.n)).toBe(1)
    }))

  it.effect("a failed attempt does not burn the key", () =>
    Effect.gen(function*() {
      const { client } = yield* TestServer
      const taken = yield* client.users.create({ payload: userInput(), headers: {} })
      const key = randomUUID()
      const body = userInput({ email: taken.email })
      const conflict = yield* client.users.create({ payload: body, headers: { "idempotency-key": key } }).pipe(
        Effect.flip
      )
      expect(conflict._tag).toBe("EmailTaken")
      yield* client.users.remove({ path: { id: taken.id } })
      const created = yield* client.users.create({ payload: body, headers: { "idempotency-key": key } })
      expect(created.email).toBe(taken.email)
    }))
})
