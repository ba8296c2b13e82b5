import { occurrenceChangesChannel } from "@birthday/ledger/OccurrenceLedger"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import pg from "pg"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

/** Collects the slice notifications Postgres delivers while `body` runs. */
const notificationsDuring = <A, E, R>(url: Redacted.Redacted, body: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: Redacted.value(url) })
      const received: Array<string> = []
      client.on("notification", (message) => received.push(message.payload ?? ""))
      await client.connect()
      await client.query(`LISTEN ${occurrenceChangesChannel}`)
      return { client, received }
    }),
    ({ received }) =>
      Effect.flatMap(body, (result) =>
        // NOTIFY is delivered on commit; give it a moment to arrive.
        Effect.as(Effect.sleep("300 millis"), { result, received })),
    ({ client }) => Effect.promise(() => client.end())
  )

describe("slice notifications", () => {
  // A horizon longer than a year: every occurrence may be in a slice's memory, so every change is told.
  layer(testServerLayer({ SLICE_HORIZON: "400 days" }), { excludeTestServices: true })("within the horizon", (it) => {
    it.effect("tells the owning slice about create, edit and delete", () =>
      Effect.gen(function*() {
        const { client, databaseUrl } = yield* TestServer
        const { received, result: user } = yield* notificationsDuring(
          databaseUrl,
          Effect.gen(function*() {
            const user = yield* client.users.create({ payload: userInput(), headers: {} })
            yield* client.users.update({
              path: { id: user.id },
              payload: userInput({ email: user.email, birthday: "1991-01-02" })
            })
            yield* client.users.remove({ path: { id: user.id } })
            return user
          })
        )
        expect(received).toHaveLength(3)
        expect(received.every((payload) => payload.endsWith(`:${user.id}`))).toBe(true)
      }))
  })

  // A horizon of a millisecond: no slice can hold any occurrence, so no commit takes NOTIFY's lock.
  layer(testServerLayer({ SLICE_HORIZON: "1 millis" }), { excludeTestServices: true })("beyond the horizon", (it) => {
    it.effect("stays silent when no changed occurrence can be in a slice's memory", () =>
      Effect.gen(function*() {
        const { client, databaseUrl } = yield* TestServer
        const { received } = yield* notificationsDuring(
          databaseUrl,
          Effect.gen(function*() {
            const user = yield* client.users.create({ payload: userInput(), headers: {} })
            yield* client.users.update({ path: { id: user.id }, payload: userInput({ email: user.email }) })
            yield* client.users.remove({ path: { id: user.id } })
          })
        )
        expect(received).toEqual([])
      }))
  })
})
