/**
 * Hostile clients rather than hostile bodies: token spellings and junk tokens against the rate
 * limit (tokens set), and slow or greedy connections against the server's timeouts and cap. The
 * slow cases are bounded in time: each must be cut off within a few seconds, not Node's minutes.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Layer, type Redacted } from "effect"
import { connect } from "node:net"
import { RateLimiter } from "../src/RateLimiter.js"
import { parseApiTokens, ServerConfig } from "../src/ServerConfig.js"
import { ServerSettings } from "../src/ServerSettings.js"
import { type HeldConnection, heldRequest, hostileRequest, openConnection, slowClient } from "./support/HostileHttp.js"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

const digest = (url: Redacted.Redacted) =>
  query<{ digest: string }>(
    url,
    `SELECT concat_ws(':', (SELECT count(*) FROM users), (SELECT count(*) FROM audit_log),
       (SELECT count(*) FROM idempotency_keys)) AS digest`
  ).pipe(Effect.map((rows) => rows[0]!.digest))

describe("API_TOKENS", () => {
  it("refuses empty tokens, shared labels and shared tokens at start", () => {
    for (
      const raw of ["ops:", "ops: ", "ops:,ci:b", ":tok", "ops:a,ops:b", "ops:same,ci:same", "ops:has space", "ops:ü"]
    ) {
      expect(Either.isLeft(parseApiTokens(raw)), raw).toBe(true)
    }
    expect(parseApiTokens("ops:a1,ci:b2,bare3")).toEqual(Either.right([
      { name: "ops", token: "a1" },
      { name: "ci", token: "b2" },
      { name: "token-3", token: "bare3" }
    ]))
    expect(parseApiTokens("")).toEqual(Either.right([]))
    // `ops:${UNSET}` reaches the server as `ops:`: the configuration itself fails.
    const loaded = Effect.runSync(
      Effect.either(ServerConfig).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["API_TOKENS", "ops:"]])))
      )
    )
    expect(Either.isLeft(loaded)).toBe(true)
  })
})

describe("rate limiter memory", () => {
  const limiterWith = (env: Record<string, string>) =>
    RateLimiter.Default.pipe(
      Layer.provide(ServerSettings.layer),
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
    )
  it.effect("forgets the least recently seen caller, never everyone at once", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter
      const now = 1_000_000
      expect(limiter.take("p:busy", now)).toBe(0)
      expect(limiter.take("p:busy", now)).toBe(0)
      expect(limiter.take("p:busy", now)).toBeGreaterThan(0)
      // 10x the capacity in fresh callers (an address sweep), the busy caller still calling.
      for (let i = 0; i < 1000; i++) {
        limiter.take(`a:10.0.${i >> 8}.${i & 255}`, now)
        if (i % 50 === 0) expect(limiter.take("p:busy", now), `after ${i} others`).toBeGreaterThan(0)
      }
      expect(limiter.size()).toBeLessThanOrEqual(100)
      expect(limiter.take("p:busy", now)).toBeGreaterThan(0)
    }).pipe(
      Effect.provide(limiterWith({ RATE_LIMIT_BURST: "2", RATE_LIMIT_PER_SECOND: "1", RATE_LIMIT_CALLERS: "100" }))
    ))
})

const limited = {
  API_TOKENS: "ops:s3cret-ops,ci:s3cret-ci",
  RATE_LIMIT_PER_SECOND: "0.01",
  RATE_LIMIT_BURST: "5"
}

layer(testServerLayer(limited), { excludeTestServices: true })("rate limit against hostile callers", (it) => {
  it.effect("limits junk tokens, token spellings and failed authentications by address; principals by name", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const before = yield* digest(databaseUrl)
      const send = (authorization: string | undefined, method = "GET") =>
        hostileRequest(baseUrl, {
          method,
          path: "/users",
          headers: {
            "content-type": "application/json",
            ...(authorization === undefined ? {} : { authorization })
          },
          ...(method === "POST" ? { body: JSON.stringify(userInput()) } : {})
        })
      // [authorization header, method, expected status, expected _tag]: one address, in order.
      const steps: ReadonlyArray<readonly [string | undefined, string, number, string | undefined]> = [
        ["Bearer junk-1", "GET", 401, "Unauthorized"],
        ["Bearer junk-2", "POST", 401, "Unauthorized"],
        ["XXXXXXXs3cret-ops", "GET", 401, "Unauthorized"],
        ["Token: s3cret-ops", "POST", 401, "Unauthorized"],
        [undefined, "GET", 401, "Unauthorized"],
        // The address's burst of 5 is spent: every further unauthenticated spelling is limited.
        ["Bearer junk-3", "GET", 429, "RateLimited"],
        ["Bearer junk-4", "POST", 429, "RateLimited"],
        ["XXXXXXXs3cret-ops", "GET", 429, "RateLimited"],
        ["Token: s3cret-ops", "GET", 429, "RateLimited"],
        ["Basic b3BzOnMzY3JldC1vcHM=", "GET", 429, "RateLimited"],
        [undefined, "POST", 429, "RateLimited"],
        ["", "GET", 429, "RateLimited"],
        // The token's holder has a bucket of its own, whatever the spelling of the scheme.
        ["Bearer s3cret-ops", "GET", 200, undefined],
        ["bearer s3cret-ops", "GET", 200, undefined],
        ["BEARER s3cret-ops", "GET", 200, undefined],
        ["Bearer   s3cret-ops", "GET", 200, undefined],
        ["bEaReR s3cret-ops", "GET", 200, undefined],
        ["Bearer s3cret-ops", "GET", 429, "RateLimited"],
        ["bearer s3cret-ops", "GET", 429, "RateLimited"],
        ["Bearer s3cret-ci", "GET", 200, undefined]
      ]
      for (const [authorization, method, status, tag] of steps) {
        const response = yield* send(authorization, method)
        const label = `${method} with ${authorization ?? "no header"} → ${response.status} ${
          response.text.slice(0, 200)
        }`
        expect(response.status, label).toBe(status)
        if (tag !== undefined) {
          expect(response.json._tag, label).toBe(tag)
          expect(response.json.message, label).toBeTypeOf("string")
        }
        if (status === 429) expect(Number(response.headers["retry-after"]), label).toBeGreaterThanOrEqual(1)
        expect(yield* digest(databaseUrl), label).toBe(before)
      }
    }))
})

/** The head of an authorised `POST /users` for `body`, to be sent as the client pleases. */
const createHead = (body: string) =>
  "POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-ops\r\n" +
  `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`

const slow = {
  API_TOKENS: "ops:s3cret-ops",
  HTTP_HEADERS_TIMEOUT: "1 second",
  HTTP_REQUEST_TIMEOUT: "2 seconds",
  HTTP_IDLE_TIMEOUT: "1 second",
  HTTP_MAX_CONNECTIONS: "40",
  // This suite is about the server-wide cap; the per-address one has its own below.
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: "40",
  // Enough to read the rest of an 11 MiB bulk import refused at 8 MiB (the default is 4 MiB).
  HTTP_DRAIN_BYTES: String(16 * 1024 * 1024)
}

layer(testServerLayer(slow), { excludeTestServices: true })("slow and greedy clients", (it) => {
  it.effect("cuts off a client that sends its headers a byte at a time", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const result = yield* slowClient(
        baseUrl,
        "GET /users HTTP/1.1\r\nHost: x\r\n",
        "X-Slow: " + "a".repeat(200),
        50,
        15_000
      )
      expect(result.closedAfterMs, result.answer).toBeDefined()
      expect(result.closedAfterMs!).toBeLessThan(5_000)
      // Answered in the API's error shape, not Node's bare 408.
      expect(result.answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(result.answer).toMatch(/\r\ncontent-type: application\/json\r\n/)
      expect(JSON.parse(result.answer.slice(result.answer.indexOf("\r\n\r\n") + 4))).toMatchObject({
        _tag: "RequestTimeout",
        message: expect.any(String)
      })
    }))

  it.effect("cuts off a body that trickles in, and stores nothing", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const before = yield* digest(databaseUrl)
      const body = JSON.stringify(userInput())
      const head = createHead(body)
      const result = yield* slowClient(baseUrl, head, body, 100, 15_000)
      expect(result.closedAfterMs, result.answer).toBeDefined()
      expect(result.closedAfterMs!).toBeLessThan(6_000)
      expect(result.answer).not.toMatch(/^HTTP\/1\.1 201/)
      expect(yield* digest(databaseUrl)).toBe(before)
    }))

  it.effect("answers a multipart replay that never ends within the request timeout, not never", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const before = yield* digest(databaseUrl)
      const head = "POST /deliveries/replay HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-ops\r\n" +
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n--x\r\ngarbage"
      const result = yield* slowClient(baseUrl, head, "", 1000, 15_000)
      expect(result.closedAfterMs, result.answer).toBeDefined()
      expect(result.closedAfterMs!).toBeLessThan(6_000)
      expect(yield* digest(databaseUrl)).toBe(before)
    }))

  it.effect("refuses a 48 MiB chunked body at the limit instead of reading it all", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const before = yield* digest(databaseUrl)
      const response = yield* hostileRequest(baseUrl, {
        method: "POST",
        path: "/users",
        headers: { authorization: "Bearer s3cret-ops", "content-type": "application/json" },
        chunked: { totalBytes: 48 * 1024 * 1024, chunkBytes: 64 * 1024 },
        timeoutMs: 10_000
      })
      expect(response.status).toBe(413)
      expect(response.json).toMatchObject({ _tag: "PayloadTooLarge", limitBytes: 1024 * 1024 })
      expect(response.elapsedMs).toBeLessThan(5_000)
      expect(yield* digest(databaseUrl)).toBe(before)
    }))

  it.effect("answers 413 to a client that writes its whole body before reading, and keeps the connection", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const before = yield* digest(databaseUrl)
      const post = (path: string, body: Buffer, chunked = false) =>
        Buffer.concat([
          Buffer.from(
            `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-ops\r\n` +
              "Content-Type: application/json\r\n" +
              (chunked ? "Transfer-Encoding: chunked\r\n\r\n" : `Content-Length: ${body.length}\r\n\r\n`)
          ),
          chunked
            ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")])
            : body
        ])
      const mib = 1024 * 1024
      // [path, body bytes, chunked, the limit the 413 names]: each over its limit, within HTTP_DRAIN_BYTES.
      const cases = [
        ["/users", 8 * mib, false, mib],
        ["/users", 3 * mib, false, mib],
        ["/users", 3 * mib, true, mib],
        ["/deliveries/replay", 2 * mib, false, mib],
        ["/users/bulk", 11 * mib, false, 8 * mib]
      ] as const
      for (const [path, bytes, chunked, limitBytes] of cases) {
        const label = `${path} ${bytes} bytes${chunked ? " chunked" : ""}`
        const refused = yield* heldRequest(
          baseUrl,
          "127.0.0.1",
          post(path, Buffer.alloc(bytes, 0x20), chunked),
          10_000,
          {
            readAfterWriting: true
          }
        )
        expect(refused.status, `${label}: ${refused.text.slice(0, 200)}`).toBe(413)
        expect(refused.json, label).toMatchObject({ _tag: "PayloadTooLarge", limitBytes })
        expect(refused.json.message, label).toBeTypeOf("string")
        // The rest of the body was read and discarded: the connection serves the next request.
        const next = yield* heldRequest(baseUrl, "127.0.0.1", "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n", 5_000, {
          socket: refused.socket
        })
        expect(next.status, label).toBe(200)
        next.socket.destroy()
      }
      expect(yield* digest(databaseUrl)).toBe(before)
    }))

  it.effect("stops reading a refused body that keeps coming after HTTP_DRAIN_TIME", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const head = "POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-ops\r\n" +
        `Content-Type: application/json\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n` + " ".repeat(1100 * 1024)
      const result = yield* slowClient(baseUrl, head, " ".repeat(1000), 20, 15_000)
      expect(result.answer).toMatch(/^HTTP\/1\.1 413/)
      expect(result.closedAfterMs, result.answer.slice(0, 200)).toBeDefined()
      expect(result.closedAfterMs!).toBeLessThan(6_000)
    }))

  it.effect("closes an idle keep-alive connection after HTTP_IDLE_TIMEOUT", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const result = yield* slowClient(baseUrl, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n", "", 1000, 10_000)
      expect(result.answer).toMatch(/^HTTP\/1\.1 200/)
      expect(result.closedAfterMs).toBeDefined()
      expect(result.closedAfterMs!).toBeLessThan(4_000)
    }))

  it.effect("drops connections past HTTP_MAX_CONNECTIONS on arrival and keeps serving", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const port = Number(new URL(baseUrl).port)
      const closedQuickly = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          let closed = 0
          const sockets = Array.from({ length: 70 }, () => {
            const socket = connect(port, "127.0.0.1")
            socket.on("error", () => undefined)
            socket.on("close", () => closed++)
            return socket
          })
          setTimeout(() => {
            resolve(closed)
            for (const socket of sockets) socket.destroy()
          }, 500)
        })
      )
      // 40 held at most; the rest were closed long before the 1 s header timeout.
      expect(closedQuickly).toBeGreaterThanOrEqual(30)
      yield* Effect.sleep("200 millis")
      const after = yield* hostileRequest(baseUrl, { method: "GET", path: "/health/live" })
      expect(after.status).toBe(200)
    }))
})

// Timeouts long enough that only the connection limits can free a connection during a test.
const greedy = {
  API_TOKENS: "ops:s3cret-ops",
  HTTP_HEADERS_TIMEOUT: "60 seconds",
  HTTP_REQUEST_TIMEOUT: "60 seconds",
  HTTP_IDLE_TIMEOUT: "60 seconds",
  HTTP_MAX_CONNECTIONS: "40"
}
layer(
  testServerLayer({ ...greedy, HTTP_BODY_GRACE: "1 second", HTTP_MIN_BODY_RATE: "240" }),
  { excludeTestServices: true }
)("bodies trickling in (minimum body rate)", (it) => {
  it.effect("ten addresses trickling bodies hold the cap only until the grace is over, then get a 408", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const before = yield* digest(databaseUrl)
      const body = JSON.stringify(userInput())
      const head = createHead(body)
      // 10 addresses x 4 connections (the per-address cap) fill the cap of 40, each sending its
      // body at 5 bytes/s, for a request timeout of 60 s. One after another, so that each has its
      // headers in (a request in progress) before the next arrives near the cap.
      const trickles = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => `127.0.1.${1 + Math.floor(i / 4)}`),
        (address, i) =>
          Effect.sleep(`${i * 10} millis`).pipe(Effect.zipRight(slowClient(baseUrl, head, body, 200, 15_000, address))),
        { concurrency: "unbounded" }
      ).pipe(Effect.fork)
      const results = yield* trickles.await.pipe(Effect.flatten)
      for (const result of results) {
        expect(result.closedAfterMs, result.answer).toBeDefined()
        expect(result.closedAfterMs!).toBeLessThan(6_000)
        expect(result.answer).toMatch(/^HTTP\/1\.1 408 /)
        expect(JSON.parse(result.answer.slice(result.answer.indexOf("\r\n\r\n") + 4))).toMatchObject({
          _tag: "RequestTimeout",
          message: expect.stringContaining("HTTP_MIN_BODY_RATE")
        })
      }
      expect(yield* digest(databaseUrl)).toBe(before)
      const after = yield* hostileRequest(baseUrl, { method: "GET", path: "/health/live" })
      expect(after.status).toBe(200)
    }))
})

// Two client addresses on this machine (all of 127/8 is loopback).
const greedyAddress = "127.0.0.2"
const otherAddress = "127.0.0.3"

layer(
  testServerLayer({ ...greedy, HTTP_MAX_CONNECTIONS: "100" }),
  { excludeTestServices: true }
)("a greedy address (per-address cap)", (it) => {
  it.effect("holds at most a tenth of HTTP_MAX_CONNECTIONS; another address is still served", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      // 40 keep-alive probes, each answered and then held idle, and 10 connections that send nothing.
      const probes = yield* Effect.forEach(
        Array.from({ length: 40 }),
        () => heldRequest(baseUrl, greedyAddress),
        { concurrency: 8 }
      )
      const silent = yield* Effect.forEach(
        Array.from({ length: 10 }),
        () => heldRequest(baseUrl, greedyAddress, "", 3_000),
        { concurrency: 10 }
      )
      const served = probes.filter((response) => response.status === 200)
      const refused = [...probes, ...silent].filter((response) => response.status === 429)
      expect(served.length).toBe(10)
      expect(refused.length).toBe(40)
      for (const response of refused) {
        expect(response.json).toMatchObject({ _tag: "TooManyConnections" })
        expect(response.json.message).toBeTypeOf("string")
      }
      // The other address is served on fresh connections while the greedy one holds its ten.
      for (let i = 0; i < 5; i++) {
        const other = yield* heldRequest(baseUrl, otherAddress)
        expect(other.status, other.text).toBe(200)
        other.socket.destroy()
      }
      expect(served.filter((response) => response.closed()).length).toBe(0)
      for (const response of [...probes, ...silent]) response.socket.destroy()
    }))
})

layer(
  testServerLayer({ ...greedy, HTTP_MAX_CONNECTIONS_PER_ADDRESS: "40" }),
  { excludeTestServices: true }
)("a greedy address (near the cap)", (it) => {
  it.effect("closes idle keep-alive connections near HTTP_MAX_CONNECTIONS so that another address gets in", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      // Allowed all 40 by its own cap, the greedy address fills the server with idle keep-alives.
      const probes = yield* Effect.forEach(
        Array.from({ length: 40 }),
        () => heldRequest(baseUrl, greedyAddress),
        { concurrency: 1 }
      )
      expect(probes.every((response) => response.status === 200)).toBe(true)
      yield* Effect.sleep("100 millis")
      const stillHeld = probes.filter((response) => !response.closed()).length
      expect(stillHeld).toBeLessThan(36)
      const other = yield* heldRequest(baseUrl, otherAddress)
      expect(other.status, other.text).toBe(200)
      other.socket.destroy()
      for (const response of probes) response.socket.destroy()
      yield* Effect.sleep("200 millis")
    }))

  it.effect("closes connections without a request in progress near the cap, oldest first, never a request in flight", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      // Five requests in flight: headers in, their body (100 bytes announced) still coming.
      const inFlight = yield* Effect.forEach(
        Array.from({ length: 5 }),
        () =>
          openConnection(
            baseUrl,
            greedyAddress,
            "POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-ops\r\n" +
              "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"firstName\""
          ),
        { concurrency: 1 }
      )
      // Then, one at a time (so that the server sees them in this order), 35 connections that
      // never finish their headers or send nothing: 40 in all, the cap.
      const waiting: Array<HeldConnection> = []
      for (let i = 0; i < 35; i++) {
        waiting.push(yield* openConnection(baseUrl, greedyAddress, i % 2 === 0 ? incompleteHeaders : ""))
        yield* Effect.sleep("5 millis")
      }
      const other = yield* heldRequest(baseUrl, otherAddress, undefined, 5_000)
      expect(other.status, other.text).toBe(200)
      yield* Effect.sleep("100 millis")
      expect(inFlight.filter((connection) => connection.closed()).length).toBe(0)
      const closed = waiting.map((connection) => connection.closed())
      const firstOpen = closed.indexOf(false)
      expect(firstOpen, closed.join(",")).toBeGreaterThan(0)
      // Oldest first: the closed ones are the first opened, the later ones are still held.
      expect(closed.slice(firstOpen).every((isClosed) => !isClosed), closed.join(",")).toBe(true)
      other.socket.destroy()
      for (const connection of [...inFlight, ...waiting]) connection.socket.destroy()
    }))
})

// A request whose headers never end: not idle to Node (its message has begun), so only the
// guard's near-cap eviction or the headers timeout (60 s here) closes it.
const incompleteHeaders = "GET /health/live HTTP/1.1\r\nHost: x\r\n"

layer(testServerLayer(greedy), { excludeTestServices: true })("a few addresses (default per-address share)", (it) => {
  it.effect("four addresses holding connections with incomplete headers do not fill the server", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      // Each address opens as many as a quarter of HTTP_MAX_CONNECTIONS (the old per-address share).
      const held = yield* Effect.forEach(
        ["127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"].flatMap((address) => Array(10).fill(address)),
        (address: string) => openConnection(baseUrl, address, incompleteHeaders),
        { concurrency: 4 }
      )
      // The refused ones are closed after their 429 and its linger (500 ms).
      yield* Effect.sleep("800 millis")
      // Each address holds a tenth of the cap (4 of 40); the others were refused in the error shape.
      expect(held.filter((connection) => !connection.closed()).length).toBeLessThanOrEqual(16)
      for (const connection of held.filter((connection) => connection.closed())) {
        expect(connection.answer()).toMatch(/^HTTP\/1\.1 429 [^]*"_tag":"TooManyConnections"/)
      }
      const other = yield* heldRequest(baseUrl, "127.0.0.8", undefined, 5_000)
      expect(other.status, other.text).toBe(200)
      other.socket.destroy()
      for (const connection of held) connection.socket.destroy()
    }))
})
