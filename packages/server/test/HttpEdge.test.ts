import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { rawRequest } from "./support/RawHttp.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"

layer(testServerLayer(), { excludeTestServices: true })("health, OpenAPI and docs", (it) => {
  it.effect("reports live and ready with migrations applied", () =>
    Effect.gen(function*() {
      const { client } = yield* TestServer
      expect(yield* client.health.live()).toEqual({ status: "ok" })
      const ready = yield* client.health.ready()
      expect(ready.status).toBe("ok")
      expect(ready.checks.postgres).toBe("ok")
      const [applied, known] = ready.checks.migrations!.split("/")
      expect(applied).toBe(known)
      // No runner in this test: every slice is reported unowned, and the API stays ready.
      expect(ready.checks.slices).toBe("0/256 owned by 0 runner(s)")
    }))

  it.effect("serves an OpenAPI 3.1 document with the users routes and Swagger UI", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const spec = yield* rawRequest(`${baseUrl}/openapi.json`, { method: "GET" })
      expect(spec.json.openapi).toBe("3.1.0")
      expect(Object.keys(spec.json.paths.users ?? spec.json.paths["/users"])).toEqual(
        expect.arrayContaining(["get", "post"])
      )
      expect(Object.keys(spec.json.paths["/users/{id}"])).toEqual(expect.arrayContaining(["get", "put", "delete"]))
      // The permissive wire body still documents the real field rules.
      const ref: string = spec.json.paths["/users"].post.requestBody.content["application/json"].schema.$ref
      const body = spec.json.components.schemas[ref.split("/").pop()!]
      expect(body.required).toEqual(["firstName", "lastName", "email", "birthday", "timeZone"])
      expect(body.properties.firstName.maxLength).toBe(100)
      expect(body.properties.birthday.format).toBe("date")
      const docs = yield* rawRequest(`${baseUrl}/docs`, { method: "GET" })
      expect(docs.status).toBe(200)
      expect(docs.text).toContain("swagger")
    }))
})
