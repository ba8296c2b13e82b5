/**
 * `GET /users/{id}` and `POST /users` are answered by HotRoutes without the router; the same
 * requests with a query string (`?routed`) go through the HttpApi router. Both ways must answer
 * alike: same status, same body (ids and timestamps aside), same error shapes.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { hostileRequest } from "./support/HostileHttp.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

const headers = { authorization: "Bearer s3cret-ops", "content-type": "application/json" }
const comparable = (json: any) =>
  json === undefined ?
    undefined :
    JSON.parse(
      JSON.stringify(json, (key, value) => ["id", "createdAt", "updatedAt", "email"].includes(key) ? "·" : value)
    )

layer(testServerLayer({ API_TOKENS: "ops:s3cret-ops" }), { excludeTestServices: true })("hot routes", (it) => {
  it.effect("answer exactly as the routed endpoints do", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const taken = userInput()
      const first = yield* hostileRequest(baseUrl, {
        method: "POST",
        path: "/users",
        headers,
        body: JSON.stringify(taken)
      })
      expect(first.status).toBe(201)
      const id = first.json.id as string
      const cases: ReadonlyArray<
        { method: string; path: string; headers?: Record<string, string>; body?: () => string }
      > = [
        { method: "GET", path: `/users/${id}`, headers },
        { method: "GET", path: `/users/${id.toUpperCase()}`, headers },
        { method: "GET", path: "/users/00000000-0000-4000-8000-000000000000", headers },
        { method: "GET", path: `/users/${id}`, headers: { authorization: "Bearer wrong" } },
        { method: "GET", path: `/users/${id}` },
        {
          method: "POST",
          path: "/users",
          headers,
          body: () => JSON.stringify(userInput({ anniversary: "2001-02-03" }))
        },
        { method: "POST", path: "/users", headers, body: () => JSON.stringify(taken) },
        { method: "POST", path: "/users", headers, body: () => JSON.stringify({ firstName: "" }) },
        { method: "POST", path: "/users", headers, body: () => "{not json" },
        { method: "POST", path: "/users", headers, body: () => " ".repeat(2 * 1024 * 1024) },
        {
          method: "POST",
          path: "/users",
          headers: { ...headers, "idempotency-key": "" },
          body: () => JSON.stringify(userInput())
        },
        { method: "POST", path: "/users", body: () => JSON.stringify(userInput()) }
      ]
      for (const c of cases) {
        const send = (path: string) =>
          hostileRequest(baseUrl, {
            method: c.method,
            path,
            ...(c.headers === undefined ? {} : { headers: c.headers }),
            ...(c.body === undefined ? {} : { body: c.body() })
          })
        const hot = yield* send(c.path)
        const routed = yield* send(`${c.path}?routed`)
        const label = `${c.method} ${c.path.slice(0, 60)}: hot ${hot.status} ${
          hot.text.slice(0, 200)
        } / routed ${routed.status} ${routed.text.slice(0, 200)}`
        expect(hot.status, label).toBe(routed.status)
        expect(comparable(hot.json), label).toEqual(comparable(routed.json))
        expect(hot.headers["content-type"], label).toBe(routed.headers["content-type"])
      }
      // An idempotent retry replays the same user on either path.
      const body = JSON.stringify(userInput())
      const keyed = { ...headers, "idempotency-key": "hot-1" }
      const a = yield* hostileRequest(baseUrl, { method: "POST", path: "/users", headers: keyed, body })
      const b = yield* hostileRequest(baseUrl, { method: "POST", path: "/users?routed", headers: keyed, body })
      expect(a.status).toBe(201)
      expect(b.json).toEqual(a.json)
    }))
})
