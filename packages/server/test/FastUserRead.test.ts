/**
 * `GET /users/{id}` is answered by FastUserRead in Node's request listener; the same request with
 * a query string (`?routed`) goes through the Effect app and its HttpApi router. For every kind
 * of request the two must answer byte for byte alike: status line, every header but `Date`, in
 * order, and body. Requests are sent as raw bytes with `Connection: close` and read to the end.
 */
import { MigrationsLive, PgLive } from "@birthday/ledger/Database"
import { expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Exit, Fiber, Layer, Redacted, Scope } from "effect"
import { connect, type Socket } from "node:net"
import pg from "pg"
import { ApiTokens } from "../src/ApiTokens.js"
import { FastUserRead } from "../src/FastUserRead.js"
import { InFlightRequests } from "../src/InFlightRequests.js"
import { RateLimiter } from "../src/RateLimiter.js"
import { ServerSettings } from "../src/ServerSettings.js"
import { hostileRequest } from "./support/HostileHttp.js"
import { testDatabaseUrl } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

const token = "Bearer s3cret-ops"

/** The whole answer to `head` (a request without a body), as the bytes arrived, `Date` removed. */
const exchange = (baseUrl: string, head: string) =>
  Effect.promise(() =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(baseUrl)
      const socket = connect(Number(url.port), url.hostname)
      const chunks: Array<Buffer> = []
      socket.setTimeout(10_000, () => socket.destroy(new Error("no answer in 10 s")))
      socket.on("data", (chunk: Buffer) => chunks.push(chunk))
      socket.on("error", reject)
      socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1").replace(/^date: .*\r\n/im, "")))
      // Not `end`: a client that half-closes has its request aborted by Node.
      socket.write(`${head}\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`)
    })
  )

interface Case {
  readonly label: string
  readonly method?: string
  readonly path: (id: string) => string
  readonly authorization?: string
}

/** Sends `c` as it is and with `?routed` (or `&routed`) appended; both answers must be equal. */
const compare = (baseUrl: string, id: string, c: Case) =>
  Effect.gen(function*() {
    const path = c.path(id)
    const auth = c.authorization === undefined ? "" : `\r\nAuthorization: ${c.authorization}`
    const request = (target: string) => `${c.method ?? "GET"} ${target} HTTP/1.1${auth}`
    const fast = yield* exchange(baseUrl, request(path))
    const routed = yield* exchange(baseUrl, request(`${path}${path.includes("?") ? "&" : "?"}routed`))
    expect(fast, c.label).toBe(routed)
    return fast
  })

const createUser = (baseUrl: string) =>
  Effect.map(
    hostileRequest(baseUrl, {
      method: "POST",
      path: "/users",
      headers: { authorization: token, "content-type": "application/json" },
      body: JSON.stringify(userInput())
    }),
    (created) => created.json.id as string
  )

const cases: ReadonlyArray<Case> = [
  { label: "found", path: (id) => `/users/${id}`, authorization: token },
  { label: "found, id in upper case", path: (id) => `/users/${id.toUpperCase()}`, authorization: token },
  { label: "not found", path: () => "/users/00000000-0000-4000-8000-000000000000", authorization: token },
  { label: "bad id", path: () => "/users/not-a-uuid", authorization: token },
  { label: "id and more", path: (id) => `/users/${id}x`, authorization: token },
  { label: "no token", path: (id) => `/users/${id}` },
  { label: "wrong token", path: (id) => `/users/${id}`, authorization: "Bearer wrong" },
  { label: "token in another scheme", path: (id) => `/users/${id}`, authorization: "Token s3cret-ops" },
  { label: "control character", path: (id) => `/users/${id}%00`, authorization: token },
  { label: "escaped id", path: (id) => `/users/%${id.charCodeAt(0).toString(16)}${id.slice(1)}`, authorization: token },
  { label: "query string", path: (id) => `/users/${id}?x=1`, authorization: token },
  { label: "HEAD", method: "HEAD", path: (id) => `/users/${id}`, authorization: token },
  { label: "DELETE of nobody", method: "DELETE", path: () => "/users/00000000-0000-4000-8000-000000000000" },
  { label: "OPTIONS", method: "OPTIONS", path: (id) => `/users/${id}`, authorization: token }
]

layer(testServerLayer({ API_TOKENS: "ops:s3cret-ops" }), { excludeTestServices: true })("fast user read", (it) => {
  it.effect("answers every kind of request byte for byte as the routed endpoint", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const id = yield* createUser(baseUrl)
      for (const c of cases) yield* compare(baseUrl, id, c)
      const found = yield* compare(baseUrl, id, cases[0]!)
      expect(found).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
      expect(found).toContain(`"id":"${id}"`)
    }))
})

layer(testServerLayer({ API_TOKENS: "ops:s3cret-ops", RATE_LIMIT_PER_SECOND: "1", RATE_LIMIT_BURST: "3" }), {
  excludeTestServices: true
})("fast user read, rate limited", (it) => {
  it.effect("refuses with the same 429 whether the caller is known or not", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const id = yield* createUser(baseUrl)
      // The create took one of the principal's three tokens; two more go, then both ways are 429.
      yield* compare(baseUrl, id, { label: "last token", path: (id) => `/users/${id}`, authorization: token })
      const refused = yield* compare(baseUrl, id, {
        label: "rate limited",
        path: (id) => `/users/${id}`,
        authorization: token
      })
      expect(refused).toMatch(/^HTTP\/1\.1 429 /)
      // Failed authentications draw from the address's bucket (two of three here, then the third)
      // and are then limited alike.
      const wrong = { label: "wrong token", path: (id: string) => `/users/${id}`, authorization: "Bearer no" }
      expect(yield* compare(baseUrl, id, wrong)).toMatch(/^HTTP\/1\.1 401 /)
      yield* exchange(baseUrl, `GET /users/${id} HTTP/1.1`)
      expect(yield* compare(baseUrl, id, wrong)).toMatch(/^HTTP\/1\.1 429 /)
      const anonymous = yield* compare(baseUrl, id, { label: "no token, limited", path: (id) => `/users/${id}` })
      expect(anonymous).toMatch(/^HTTP\/1\.1 429 /)
    }))
})

it.live("answers the same 503 while the server drains", () =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      testServerLayer({ API_TOKENS: "ops:s3cret-ops", SHUTDOWN_GRACE: "20 seconds" }),
      scope
    )
    const { baseUrl } = Context.get(context, TestServer)
    const id = yield* createUser(baseUrl)
    // A create whose body never ends keeps a request in flight, so the drain waits for it.
    const url = new URL(baseUrl)
    const held: Socket = connect(Number(url.port), url.hostname)
    held.write(`POST /users HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${token}\r\n`)
    held.write("Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    yield* Effect.sleep("200 millis")
    const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
    yield* Effect.sleep("300 millis")
    for (const c of cases) {
      const answer = yield* compare(baseUrl, id, c)
      expect(answer, c.label).toMatch(/^HTTP\/1\.1 503 /)
    }
    held.destroy()
    yield* closing.await
  }), 60_000)

it.live(
  "a read that gets no database connection in time is 503 DatabaseBusy with Retry-After, both ways, never 500",
  () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(testServerLayer({ DATABASE_CONNECT_TIMEOUT: "1 second" }), scope)
      const { baseUrl, databaseUrl } = Context.get(context, TestServer)
      const id = yield* createUser(baseUrl)
      // Every read blocks behind this lock holding its pooled connection (20); the rest wait for one.
      const locker = new pg.Client({ connectionString: Redacted.value(databaseUrl) })
      yield* Effect.promise(async () => {
        await locker.connect()
        await locker.query("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
      })
      const answers = yield* Effect.fork(Effect.all(
        Array.from(
          { length: 30 },
          (_, i) => exchange(baseUrl, `GET /users/${id}${i % 3 === 0 ? "?routed" : ""} HTTP/1.1`)
        ),
        { concurrency: "unbounded" }
      ))
      yield* Effect.sleep("4 seconds")
      yield* Effect.promise(async () => {
        await locker.query("COMMIT")
        await locker.end()
      })
      const all = yield* Fiber.join(answers)
      const status = (answer: string) => answer.slice(9, 12)
      expect(all.filter((answer) => status(answer) === "500")).toEqual([])
      const busy = all.filter((answer) => status(answer) === "503")
      expect(busy.length).toBeGreaterThan(0)
      for (const answer of busy) {
        expect(answer).toMatch(/\r\nretry-after: 1\r\n/i)
        expect(answer).toMatch(/"_tag":"DatabaseBusy"/)
      }
      expect(all.filter((answer) => status(answer) === "200").length).toBeGreaterThan(0)
      yield* Scope.close(scope, Exit.void)
    }),
  60_000
)

it.live("takes exactly GET /users/<uuid> and leaves everything else to the app", () =>
  Effect.gen(function*() {
    const { url } = yield* testDatabaseUrl
    const answered: Array<Promise<number>> = []
    const taken = (method: string, url: string) =>
      Effect.map(FastUserRead, (fast) => {
        let end: (status: number) => void = () => undefined
        answered.push(new Promise((resolve) => (end = resolve)))
        let status = 0
        const response = {
          writeHead: (code: number) => {
            status = code
            return response
          },
          end: () => end(status)
        } as never
        const request = { method, url, headers: {}, socket: { remoteAddress: "127.0.0.1" } } as never
        return fast.answer(request, response)
      })
    const id = "00000000-0000-4000-8000-000000000000"
    const cases: ReadonlyArray<readonly [string, string, boolean]> = [
      ["GET", `/users/${id}`, true],
      ["GET", `/users/${id.toUpperCase()}`, true],
      ["HEAD", `/users/${id}`, false],
      ["DELETE", `/users/${id}`, false],
      ["GET", `/users/${id}?x`, false],
      ["GET", `/users/${id}/`, false],
      ["GET", "/users/x", false],
      ["GET", "/users", false],
      ["get", `/users/${id}`, false]
    ]
    yield* Effect.gen(function*() {
      for (const [method, path, expected] of cases) {
        expect(yield* taken(method, path), `${method} ${path}`).toBe(expected)
      }
      // The two taken reads are answered (nobody has that id) before the pool closes.
      expect(yield* Effect.promise(() => Promise.all(answered.slice(0, 2)))).toEqual([404, 404])
    }).pipe(
      Effect.provide(
        FastUserRead.Default.pipe(
          Layer.provide([InFlightRequests.Default, RateLimiter.Default, ApiTokens.Default]),
          Layer.provide(ServerSettings.layer),
          Layer.provide(MigrationsLive.pipe(Layer.provideMerge(PgLive)))
        )
      ),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", Redacted.value(url)]])))
    )
  }).pipe(Effect.scoped), 60_000)
