import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, TestClock } from "effect"
import { EmailSimAdmin, EmailSimulator } from "../src/index.js"
import type { SimulatorOverrides } from "../src/SimulatorConfig.js"

interface Answer {
  readonly status: number
  readonly retryAfter: string | null
  readonly body: any
}

/** One `POST /send-email` through fetch; fails with the abort reason when it takes longer than `timeoutMs`. */
const send = (baseUrl: string, body: unknown, options: { key?: string; timeoutMs?: number } = {}) =>
  Effect.tryPromise({
    try: async (): Promise<Answer> => {
      const response = await fetch(`${baseUrl}/send-email`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(options.key === undefined ? {} : { "idempotency-key": options.key })
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000)
      })
      return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() }
    },
    catch: (error) => error as Error
  })

const greeting = { email: "ada@example.com", message: "Hey, Ada Lovelace it's your birthday" }

const simulator = (overrides: SimulatorOverrides = {}) => EmailSimulator.start({ port: 0, seed: 7, ...overrides })

describe("EmailSimulator", () => {
  it.scoped("acknowledges a send and reports it in messages, stats and the log", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator()
      const answer = yield* send(baseUrl, greeting, { key: "birthday:u1:2026" })
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual({ status: "sent", id: "msg_1" })
      const page = yield* EmailSimAdmin.messages(baseUrl)
      expect(page.total).toBe(1)
      expect(page.messages[0]).toMatchObject({ ...greeting, key: "birthday:u1:2026", attempts: 1, id: "msg_1" })
      const stats = yield* EmailSimAdmin.stats(baseUrl)
      expect(stats).toMatchObject({ received: 1, acknowledged: 1, distinctKeys: 1, failed: 0, byStatus: { 200: 1 } })
      const log = yield* EmailSimAdmin.log(baseUrl)
      expect(log.entries.map((entry) => entry.outcome)).toEqual(["acknowledged"])
    }))

  it.scoped("acknowledges a repeated key again without storing or counting it twice", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator()
      const first = yield* send(baseUrl, greeting, { key: "k" })
      const second = yield* send(baseUrl, greeting, { key: "k" })
      expect(second.status).toBe(200)
      expect(second.body).toEqual({ status: "sent", id: first.body.id, duplicate: true })
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({
        received: 2,
        acknowledged: 1,
        distinctKeys: 1,
        duplicatesRefused: 1
      })
      const messages = yield* EmailSimAdmin.allMessages(baseUrl)
      expect(messages.map((m) => [m.key, m.attempts])).toEqual([["k", 2]])
    }))

  it.live("stores a key once even when two attempts race through the latency delay", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { latencyMs: 50 } })
      const answers = yield* Effect.all([
        send(baseUrl, greeting, { key: "race" }),
        send(baseUrl, greeting, { key: "race" })
      ], {
        concurrency: 2
      })
      expect(answers.map((a) => a.status)).toEqual([200, 200])
      expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(1)
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ acknowledged: 1, duplicatesRefused: 1 })
    }).pipe(Effect.scoped))

  it.scoped("treats a key whose earlier attempt failed as a new attempt", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { errorRate: 1 } })
      const failed = yield* send(baseUrl, greeting, { key: "k" })
      expect([500, 503]).toContain(failed.status)
      yield* EmailSimAdmin.setConfig(baseUrl, { errorRate: 0 })
      const retried = yield* send(baseUrl, greeting, { key: "k" })
      expect(retried.body).toEqual({ status: "sent", id: "msg_1" })
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ failed: 1, acknowledged: 1, duplicatesRefused: 0 })
      expect((yield* EmailSimAdmin.allMessages(baseUrl))[0].attempts).toBe(2)
    }))

  it.scoped("answers 500 or 503 to every request at error rate 1", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { errorRate: 1 } })
      for (let i = 0; i < 20; i++) {
        expect([500, 503]).toContain((yield* send(baseUrl, greeting, { key: `k${i}` })).status)
      }
      const stats = yield* EmailSimAdmin.stats(baseUrl)
      expect(stats).toMatchObject({ received: 20, failed: 20, acknowledged: 0 })
      expect((stats.byStatus[500] ?? 0) + (stats.byStatus[503] ?? 0)).toBe(20)
    }))

  it.live("holds a hung request open and does not acknowledge it", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { timeoutRate: 1 } })
      const error = yield* Effect.flip(send(baseUrl, greeting, { key: "k", timeoutMs: 300 }))
      expect(error.name).toBe("TimeoutError")
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ hung: 1, acknowledged: 0 })
      expect((yield* EmailSimAdmin.log(baseUrl)).entries.map((e) => [e.key, e.outcome])).toEqual([["k", "hung"]])
    }).pipe(Effect.scoped))

  it.live("shuts down promptly while a request is still hung", () =>
    Effect.gen(function*() {
      const started = performance.now()
      const pending = yield* Effect.scoped(Effect.gen(function*() {
        const { baseUrl } = yield* simulator({ faults: { timeoutRate: 1 } })
        const fiber = yield* Effect.fork(Effect.either(send(baseUrl, greeting, { timeoutMs: 10_000 })))
        yield* Effect.sleep("100 millis")
        return fiber
      }))
      // The server cut the hung connection on close, so the client sees an error at once.
      const outcome = yield* Fiber.join(pending)
      expect(Either.isLeft(outcome)).toBe(true)
      expect(performance.now() - started).toBeLessThan(2_000)
    }))

  it.live("answers a hung request 504 after hangMs when one is set", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { timeoutRate: 1, hangMs: 200 } })
      const started = performance.now()
      expect((yield* send(baseUrl, greeting)).status).toBe(504)
      expect(performance.now() - started).toBeGreaterThanOrEqual(190)
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ hung: 1, acknowledged: 0, byStatus: { 504: 1 } })
    }).pipe(Effect.scoped))

  it.scoped("rate limits with Retry-After", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { rateLimitRate: 1, retryAfterSeconds: 7 } })
      const answer = yield* send(baseUrl, greeting)
      expect(answer.status).toBe(429)
      expect(answer.retryAfter).toBe("7")
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ rateLimited: 1, acknowledged: 0 })
    }))

  it.scoped("rejects everything during an admin outage and recovers when it is ended", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator()
      const settings = yield* EmailSimAdmin.outage(baseUrl)
      expect(settings.outage).toEqual({ active: true, untilMs: null })
      expect((yield* send(baseUrl, greeting, { key: "k" })).status).toBe(503)
      yield* EmailSimAdmin.endOutage(baseUrl)
      expect((yield* send(baseUrl, greeting, { key: "k" })).status).toBe(200)
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ outageRejected: 1, acknowledged: 1 })
      expect((yield* EmailSimAdmin.allLog(baseUrl)).map((e) => e.outcome)).toEqual(["outage", "acknowledged"])
    }))

  it.scoped("ends a timed outage when the clock passes it", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator()
      yield* EmailSimAdmin.setConfig(baseUrl, { outage: { forMs: 120_000 } })
      expect((yield* send(baseUrl, greeting)).status).toBe(503)
      yield* TestClock.adjust("119 seconds")
      expect((yield* send(baseUrl, greeting)).status).toBe(503)
      yield* TestClock.adjust("1 second")
      expect((yield* send(baseUrl, greeting)).status).toBe(200)
      expect((yield* EmailSimAdmin.config(baseUrl)).outage.active).toBe(false)
    }))

  it.live("delays answers by the configured latency", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { latencyMs: 150, latencyJitterMs: 50 } })
      const started = performance.now()
      expect((yield* send(baseUrl, greeting)).status).toBe(200)
      expect(performance.now() - started).toBeGreaterThanOrEqual(145)
    }).pipe(Effect.scoped))

  it.scoped("refuses a bad body with 400 and stores nothing", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator()
      for (const body of ["{not json", "", { email: "ada@example.com" }, { email: "nobody", message: "hi" }, [1]]) {
        expect((yield* send(baseUrl, body)).status).toBe(400)
      }
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ badRequest: 5, acknowledged: 0 })
    }))

  it.scoped("refuses an invalid admin config", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator()
      const error = yield* Effect.flip(EmailSimAdmin.setConfig(baseUrl, { errorRate: 2 }))
      expect(error.message).toContain("HTTP 400")
      expect(error.message).toContain("errorRate")
    }))

  it.scoped("replays the same fault sequence for the same seed, also after a reset", () =>
    Effect.gen(function*() {
      const statuses = (baseUrl: string) =>
        Effect.forEach(Array.from({ length: 40 }, (_, i) => i), () =>
          Effect.map(send(baseUrl, greeting), (a) => a.status))
      const faults = { errorRate: 0.3, rateLimitRate: 0.2 }
      const a = yield* simulator({ seed: 42, faults })
      const b = yield* simulator({ seed: 42, faults })
      const first = yield* statuses(a.baseUrl)
      expect(new Set(first)).toEqual(new Set([200, 429, 500, 503]))
      expect(yield* statuses(b.baseUrl)).toEqual(first)
      yield* EmailSimAdmin.reset(a.baseUrl)
      expect(yield* statuses(a.baseUrl)).toEqual(first)
    }))

  it.scoped("pages through many messages with limit, after and since", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator()
      yield* Effect.forEach(Array.from({ length: 1_200 }, (_, i) => i), (i) =>
        send(baseUrl, greeting, { key: `k${i}` }), {
        concurrency: 16,
        discard: true
      })
      const page = yield* EmailSimAdmin.messages(baseUrl, { limit: 500 })
      expect(page.messages).toHaveLength(500)
      expect(page.next).toBe(500)
      const all = yield* EmailSimAdmin.allMessages(baseUrl)
      expect(
        new Set(all.map((m) =>
          m.key
        )).size
      ).toBe(1_200)
      yield* TestClock.adjust("1 minute")
      yield* send(baseUrl, greeting, { key: "late" })
      const recent = yield* EmailSimAdmin.allMessages(baseUrl, { since: 60_000 })
      expect(recent.map((m) => m.key)).toEqual(["late"])
    }))

  it.scoped("forgets everything and restores the startup faults on reset", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* simulator({ faults: { retryAfterSeconds: 3 } })
      yield* send(baseUrl, greeting, { key: "k" })
      yield* EmailSimAdmin.setConfig(baseUrl, { errorRate: 1, outage: {} })
      const settings = yield* EmailSimAdmin.reset(baseUrl)
      expect(settings).toMatchObject({ errorRate: 0, retryAfterSeconds: 3, outage: { active: false } })
      expect(yield* EmailSimAdmin.stats(baseUrl)).toMatchObject({ received: 0, acknowledged: 0, distinctKeys: 0 })
      expect((yield* send(baseUrl, greeting, { key: "k" })).body).toEqual({ status: "sent", id: "msg_1" })
    }))
})
