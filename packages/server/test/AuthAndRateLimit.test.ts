import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { get, type IncomingHttpHeaders } from "node:http"
import { gunzipSync } from "node:zlib"
import { rawRequest } from "./support/RawHttp.js"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

const env = { API_TOKENS: "ops:secret-ops,ci:secret-ci", RATE_LIMIT_PER_SECOND: "5", RATE_LIMIT_BURST: "10" }

// A burst large enough for the anonymous requests below, which all draw from one address's bucket.
layer(testServerLayer({ ...env, RATE_LIMIT_BURST: "1000" }), { excludeTestServices: true })("auth", (it) => {
  it.effect("requires a known bearer token on every route but health, OpenAPI and docs", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const id = "00000000-0000-4000-8000-000000000000"
      for (
        const [method, path] of [["GET", "/users"], ["POST", "/users"], ["GET", `/users/${id}`], [
          "PUT",
          `/users/${id}`
        ], ["DELETE", `/users/${id}`]] as const
      ) {
        const body = method === "POST" || method === "PUT" ? JSON.stringify(userInput()) : undefined
        const anonymous = yield* rawRequest(`${baseUrl}${path}`, { method, ...(body ? { body } : {}) })
        expect(anonymous.status, `${method} ${path}`).toBe(401)
        expect(anonymous.json._tag).toBe("Unauthorized")
        const wrong = yield* rawRequest(`${baseUrl}${path}`, {
          method,
          ...(body ? { body } : {}),
          headers: { authorization: "Bearer nope" }
        })
        expect(wrong.status, `${method} ${path} wrong token`).toBe(401)
      }
      for (const path of ["/health/live", "/health/ready", "/openapi.json", "/docs"]) {
        expect((yield* rawRequest(`${baseUrl}${path}`, { method: "GET" })).status, path).toBe(200)
      }
    }))

  it.effect("serves /docs gzipped to a client that accepts it, and cacheable", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const docs = (acceptEncoding?: string) =>
        Effect.promise(() =>
          new Promise<{ headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
            const headers = acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding }
            get(`${baseUrl}/docs`, { headers }, (response) => {
              const chunks: Array<Buffer> = []
              response.on("data", (chunk: Buffer) => chunks.push(chunk))
              response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }))
            }).on("error", reject)
          })
        )
      const plain = yield* docs()
      expect(plain.headers["content-encoding"]).toBeUndefined()
      expect(plain.body.toString()).toContain("swagger-ui")
      const zipped = yield* docs("br, gzip;q=0.9")
      expect(zipped.headers["content-encoding"]).toBe("gzip")
      expect(zipped.headers["cache-control"]).toMatch(/max-age=\d+/)
      expect(zipped.body.length).toBeLessThan(plain.body.length / 3)
      expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true)
      console.log(`/docs: ${plain.body.length} bytes, ${zipped.body.length} gzipped`)
    }))
})

layer(testServerLayer(env), { excludeTestServices: true })("auth and rate limit", (it) => {
  it.effect("records the token's name as the actor of a write", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const created = yield* rawRequest(`${baseUrl}/users`, {
        method: "POST",
        body: JSON.stringify(userInput()),
        headers: { authorization: "Bearer secret-ci" }
      })
      expect(created.status).toBe(201)
      const audit = yield* query<{ actor: string }>(databaseUrl, "SELECT actor FROM audit_log WHERE entity_id = $1", [
        created.json.id
      ])
      expect(audit).toEqual([{ actor: "ci" }])
    }))

  it.effect("answers 429 with Retry-After once a token exceeds its rate, per token", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const statuses: Array<number> = []
      let retryAfter: string | null = null
      for (let i = 0; i < 30; i++) {
        const response = yield* rawRequest(`${baseUrl}/users?limit=1`, {
          method: "GET",
          headers: { authorization: "Bearer secret-ops" }
        })
        statuses.push(response.status)
        if (response.status === 429) {
          retryAfter = response.headers.get("retry-after")
          expect(response.json._tag).toBe("RateLimited")
        }
      }
      expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(10)
      expect(statuses).toContain(429)
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
      // Another token has its own bucket; probes are never limited.
      const other = yield* rawRequest(`${baseUrl}/users?limit=1`, {
        method: "GET",
        headers: { authorization: "Bearer secret-ci" }
      })
      expect(other.status).toBe(200)
      expect((yield* rawRequest(`${baseUrl}/health/live`, { method: "GET" })).status).toBe(200)
    }))
})

layer(testServerLayer({ ...env, RATE_LIMIT_PER_SECOND: "1", RATE_LIMIT_BURST: "5" }), { excludeTestServices: true })(
  "rate limit exemptions",
  (it) => {
    it.effect("exempts only the probes' exact paths: /docs and look-alikes are limited by address", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        const statuses = (path: string, times: number) =>
          Effect.forEach(
            Array.from({ length: times }),
            () => Effect.map(rawRequest(`${baseUrl}${path}`, { method: "GET" }), (response) => response.status)
          )
        // Probes are never refused, however often they are asked.
        for (const path of ["/health/live", "/health/ready", "/health/live?verbose=1"]) {
          expect(new Set(yield* statuses(path, 12)), path).toEqual(new Set([200]))
        }
        // Look-alikes of the probes (a 404 each) and the docs draw from the caller's bucket.
        for (const path of ["/health-xyz", "/healthz", "/health/live/x", "/docs", "/docsx"]) {
          const seen = yield* statuses(path, 12)
          expect(seen, path).toContain(429)
        }
      }))
  }
)
