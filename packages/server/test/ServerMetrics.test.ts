import { expect, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { rawRequest } from "./support/RawHttp.js"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

const scrape = Effect.flatMap(TestServer, ({ baseUrl }) => rawRequest(`${baseUrl}/metrics`, { method: "GET" }))

/** Scrapes until `ready` holds: the gauges are refreshed on an interval, not per scrape. */
const scrapeUntil = (ready: (text: string) => boolean) =>
  scrape.pipe(
    Effect.filterOrFail((response) => ready(response.text)),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds"))),
    Effect.orElse(() => scrape)
  )

const sample = (text: string, name: string, labels: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.split(",").every((p) => l.includes(p)))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

layer(testServerLayer({ METRICS_REFRESH: "100 millis" }), { excludeTestServices: true })("server /metrics", (it) => {
  it.effect("reports the ledger backlog, what is overdue, and slices no runner holds", () =>
    Effect.gen(function*() {
      const { client, databaseUrl } = yield* TestServer
      const user = yield* client.users.create({ payload: userInput(), headers: {} })
      const first = yield* scrapeUntil((text) =>
        sample(text, "delivery_backlog", `state="pending",kind="birthday"`) === 1
      )
      expect(first.status).toBe(200)
      expect(sample(first.text, "delivery_backlog", `state="pending",kind="birthday"`)).toBe(1)
      expect(sample(first.text, "delivery_overdue", `kind="birthday"`)).toBe(0)
      // No runner in this test: every slice is unowned, and no runner is registered.
      expect(first.text).toMatch(/^scheduler_slices_unowned 256$/m)
      expect(sample(first.text, "scheduler_runners", `health="healthy"`)).toBe(0)

      // Its greeting falls due with no runner to send it: overdue.
      yield* query(databaseUrl, `UPDATE occurrences SET due_at = now() - interval '1 hour' WHERE user_id = $1`, [
        user.id
      ])
      const second = yield* scrapeUntil((text) => sample(text, "delivery_overdue", `kind="birthday"`) === 1)
      expect(sample(second.text, "delivery_overdue", `kind="birthday"`)).toBe(1)
    }))
})
