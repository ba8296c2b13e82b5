import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

layer(testServerLayer(), { excludeTestServices: true })("users API", (it) => {
  it.effect("creates, reads, replaces and soft-deletes a user", () =>
    Effect.gen(function*() {
      const { client, databaseUrl } = yield* TestServer
      const created = yield* client.users.create({
        payload: userInput({ timeZone: "Asia/Calcutta", anniversary: "2015-06-01" }),
        headers: {}
      })
      expect(created.timeZone).toBe("Asia/Kolkata")
      expect(created.birthday).toBe("1990-04-17")
      expect(created.anniversary).toBe("2015-06-01")
      expect(created.fullName).toBe("Ada Lovelace")

      const fetched = yield* client.users.get({ path: { id: created.id } })
      expect(fetched.email).toBe(created.email)

      const replaced = yield* client.users.update({
        path: { id: created.id },
        payload: userInput({ firstName: "  Grace ", email: created.email, birthday: "1906-12-09" })
      })
      expect(replaced.firstName).toBe("Grace")
      expect(replaced.birthday).toBe("1906-12-09")
      expect(replaced.anniversary).toBeNull()

      yield* client.users.remove({ path: { id: created.id } })
      const afterDelete = yield* client.users.get({ path: { id: created.id } }).pipe(Effect.flip)
      expect(afterDelete._tag).toBe("UserNotFound")
      const again = yield* client.users.remove({ path: { id: created.id } }).pipe(Effect.flip)
      expect(again._tag).toBe("UserNotFound")
      const updateDeleted = yield* client.users.update({ path: { id: created.id }, payload: userInput() }).pipe(
        Effect.flip
      )
      expect(updateDeleted._tag).toBe("UserNotFound")

      // Soft delete: the row stays for audit, with every write recorded before/after.
      const [row] = yield* query<{ deleted_at: Date | null }>(
        databaseUrl,
        "SELECT deleted_at FROM users WHERE id = $1",
        [
          created.id
        ]
      )
      expect(row?.deleted_at).toBeInstanceOf(Date)
      const audit = yield* query<{ action: string; before: unknown; after: unknown; actor: string }>(
        databaseUrl,
        "SELECT action, before, after, actor FROM audit_log WHERE entity_id = $1 ORDER BY id",
        [created.id]
      )
      expect(audit.map((entry) => entry.action)).toEqual(["create", "update", "delete"])
      expect(audit[0]?.before).toBeNull()
      expect((audit[1]?.before as { firstName: string }).firstName).toBe("Ada")
      expect((audit[1]?.after as { firstName: string }).firstName).toBe("Grace")
      expect(audit[2]?.after).toBeNull()
      expect(audit[0]?.actor).toBe("anonymous")
    }))

  it.effect("frees a deleted user's email for a new user", () =>
    Effect.gen(function*() {
      const { client } = yield* TestServer
      const body = userInput()
      const first = yield* client.users.create({ payload: body, headers: {} })
      const clash = yield* client.users.create({ payload: { ...body, email: body.email.toUpperCase() }, headers: {} })
        .pipe(Effect.flip)
      expect(clash._tag).toBe("EmailTaken")
      yield* client.users.remove({ path: { id: first.id } })
      const second = yield* client.users.create({ payload: body, headers: {} })
      expect(second.id).not.toBe(first.id)
    }))

  it.effect("answers 409 when an update takes another live user's email", () =>
    Effect.gen(function*() {
      const { client } = yield* TestServer
      const a = yield* client.users.create({ payload: userInput(), headers: {} })
      const b = yield* client.users.create({ payload: userInput(), headers: {} })
      const error = yield* client.users.update({ path: { id: b.id }, payload: userInput({ email: a.email }) }).pipe(
        Effect.flip
      )
      expect(error._tag).toBe("EmailTaken")
      expect((yield* client.users.get({ path: { id: b.id } })).email).toBe(b.email)
    }))

  it.effect("answers 404 for ids that are unknown or not UUIDs", () =>
    Effect.gen(function*() {
      const { client } = yield* TestServer
      for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "1"]) {
        const error = yield* client.users.get({ path: { id } }).pipe(Effect.flip)
        expect(error._tag).toBe("UserNotFound")
      }
    }))

  it.effect("50 concurrent creates with one email: exactly one wins", () =>
    Effect.gen(function*() {
      const { client, databaseUrl } = yield* TestServer
      const email = userInput().email
      const results = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => userInput({ email, firstName: `Racer${i}` })),
        (payload) => client.users.create({ payload, headers: {} }).pipe(Effect.either),
        { concurrency: "unbounded" }
      )
      const wins = results.filter((result) => result._tag === "Right")
      const losses = results.flatMap((result) => result._tag === "Left" ? [result.left._tag] : [])
      expect(wins).toHaveLength(1)
      expect(losses).toEqual(Array(49).fill("EmailTaken"))
      const rows = yield* query<{ n: string }>(databaseUrl, "SELECT count(*) AS n FROM users WHERE lower(email) = $1", [
        email
      ])
      expect(Number(rows[0]?.n)).toBe(1)
    }))
})
