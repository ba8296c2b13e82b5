import { expect, layer } from "@effect/vitest"
import { DateTime, Effect } from "effect"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

// The real clock runs here, so assertions are about shape and local time, never a calendar year.
layer(testServerLayer({ BIRTHDAY_SEND_TIME: "09:00", ANNIVERSARY_SEND_TIME: "10:30" }), { excludeTestServices: true })(
  "occurrences kept with the user and GET /users/{id}/occurrences",
  (it) => {
    it.effect("create schedules the next occurrence of each kind, in the user's zone", () =>
      Effect.gen(function*() {
        const { client } = yield* TestServer
        const user = yield* client.users.create({
          payload: userInput({ timeZone: "Australia/Melbourne", birthday: "1990-04-17", anniversary: "2015-06-01" }),
          headers: {}
        })
        const { items, userId } = yield* client.occurrences.forUser({ path: { id: user.id } })
        expect(userId).toBe(user.id)
        expect(items.map((item) => item.kind).sort()).toEqual(["anniversary", "birthday"])
        for (const item of items) {
          expect(item.key).toBe(`${item.kind}:${user.id}:${item.year}`)
          expect(item.state).toBe("pending")
          expect(item.timeZone).toBe("Australia/Melbourne")
          expect(DateTime.toEpochMillis(item.dueAt)).toBeGreaterThan(Date.now())
          expect(item.localDueAt.slice(0, 10)).toBe(item.localDate)
        }
        const birthday = items.find((item) => item.kind === "birthday")!
        expect(birthday.localDate.slice(5)).toBe("04-17")
        expect(birthday.localDueAt).toMatch(/T09:00:00\.000\+10:00$/)
        const anniversary = items.find((item) => item.kind === "anniversary")!
        expect(anniversary.localDueAt).toMatch(/T10:30:00\.000\+10:00$/)
      }))

    it.effect("an edit recomputes in the same request; removing the anniversary cancels it", () =>
      Effect.gen(function*() {
        const { client } = yield* TestServer
        const user = yield* client.users.create({
          payload: userInput({ timeZone: "Europe/Berlin", birthday: "1990-04-17", anniversary: "2015-06-01" }),
          headers: {}
        })
        yield* client.users.update({
          path: { id: user.id },
          payload: userInput({ email: user.email, timeZone: "Asia/Tokyo", birthday: "1990-08-17" })
        })
        const { items } = yield* client.occurrences.forUser({ path: { id: user.id } })
        expect(items.map((item) => item.kind)).toEqual(["birthday"])
        expect(items[0]!.localDate.slice(5)).toBe("08-17")
        expect(items[0]!.localDueAt).toMatch(/T09:00:00\.000\+09:00$/)
      }))

    it.effect("delete cancels every open occurrence and the endpoint answers 404", () =>
      Effect.gen(function*() {
        const { client, databaseUrl } = yield* TestServer
        const user = yield* client.users.create({ payload: userInput({ anniversary: "2015-06-01" }), headers: {} })
        yield* client.users.remove({ path: { id: user.id } })
        const rows = yield* query<{ state: string }>(databaseUrl, "SELECT state FROM occurrences WHERE user_id = $1", [
          user.id
        ])
        expect(rows.map((row) => row.state)).toEqual(["cancelled", "cancelled"])
        const missing = yield* client.occurrences.forUser({ path: { id: user.id } }).pipe(Effect.flip)
        expect(missing._tag).toBe("UserNotFound")
      }))
  }
)
