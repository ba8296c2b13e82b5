import { expect, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

layer(testServerLayer({ RATE_LIMIT_PER_SECOND: "100000", RATE_LIMIT_BURST: "100000" }), { excludeTestServices: true })(
  "users pagination",
  (it) => {
    it.effect("walks 1,000 users in pages without gaps or repeats, skipping deleted users", () =>
      Effect.gen(function*() {
        const { client } = yield* TestServer
        const created = yield* Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => userInput({ firstName: `User${i}` })),
          (payload) => client.users.create({ payload, headers: {} }),
          { concurrency: 16 }
        )
        const deleted = new Set(created.slice(0, 25).map((user) => user.id))
        yield* Effect.forEach(deleted, (id) => client.users.remove({ path: { id } }), { concurrency: 8, discard: true })

        const seen: Array<string> = []
        let cursor = Option.none<string>()
        let pages = 0
        do {
          const page = yield* client.users.list({
            urlParams: { limit: "97", ...(Option.isSome(cursor) ? { cursor: cursor.value } : {}) }
          })
          expect(page.items.length).toBeLessThanOrEqual(97)
          seen.push(...page.items.map((user) => user.id))
          cursor = Option.fromNullable(page.nextCursor)
          pages++
        } while (Option.isSome(cursor))

        expect(new Set(seen).size).toBe(seen.length)
        const expected = created.map((user) => user.id).filter((id) => !deleted.has(id))
        expect(seen.toSorted()).toEqual(expected.toSorted())
        // A stable order: asking again gives the same sequence.
        expect(seen).toEqual(seen.toSorted())
        expect(pages).toBe(Math.ceil(975 / 97))

        const first = yield* client.users.list({ urlParams: {} })
        expect(first.items).toHaveLength(100)
        const max = yield* client.users.list({ urlParams: { limit: "500" } })
        expect(max.items).toHaveLength(500)
      }))
  }
)
