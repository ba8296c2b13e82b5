/**
 * The OpenAPI document, as an integrator's tooling sees it: `@redocly/cli lint` passes on the
 * live /openapi.json, openapi-typescript generates from it exactly the client types kept in
 * test/generated (regenerate with `pnpm openapi client`), and an openapi-fetch client built on
 * those types creates, reads, lists and deletes a user against the real server.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import createClient from "openapi-fetch"
import type { paths } from "./generated/BirthdayApiClient.js"
import { generateClientTypes, generatedClientPath, lintOpenApi } from "./support/OpenApiDocument.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

layer(testServerLayer({ API_TOKENS: "ci:s3cret-ci" }), { excludeTestServices: true })("OpenAPI document", (it) => {
  const served = Effect.flatMap(
    TestServer,
    ({ baseUrl }) => Effect.promise(() => fetch(`${baseUrl}/openapi.json`).then((response) => response.json()))
  )

  it.effect("is lint-clean for @redocly/cli", () =>
    Effect.gen(function*() {
      const document = yield* served
      const { code, output } = yield* Effect.promise(() => lintOpenApi(document))
      expect(output).toContain("Your API description is valid")
      // The summary lists each failing rule as `error <rule>: <count>` or `warning <rule>: <count>`.
      expect(output).not.toMatch(/^(error|warning)\s+[\w-]+: \d+/m)
      expect(code).toBe(0)
    }), { timeout: 120_000 })

  it.effect("generates the client types kept in test/generated", () =>
    Effect.gen(function*() {
      const document = yield* served
      const generated = yield* Effect.promise(() => generateClientTypes(document))
      expect(generated, "run `pnpm openapi client` and commit the result").toBe(
        readFileSync(generatedClientPath, "utf8")
      )
    }))

  it.effect("drives the API through a generated openapi-fetch client", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const client = createClient<paths>({ baseUrl, headers: { authorization: "Bearer s3cret-ci" } })
      const input = userInput({ anniversary: "2015-06-07" })
      const created = yield* Effect.promise(() =>
        client.POST("/users", { body: input, params: { header: { "idempotency-key": "openapi-fetch-1" } } })
      )
      expect(created.response.status).toBe(201)
      const user = created.data!
      expect(user).toMatchObject({ email: input.email, anniversary: "2015-06-07", timeZone: input.timeZone })

      const read = yield* Effect.promise(() => client.GET("/users/{id}", { params: { path: { id: user.id } } }))
      expect(read.data).toEqual(user)

      const listed = yield* Effect.promise(() => client.GET("/users", { params: { query: { limit: "500" } } }))
      expect(listed.data!.items.map((item) => item.id)).toContain(user.id)

      const deleted = yield* Effect.promise(() => client.DELETE("/users/{id}", { params: { path: { id: user.id } } }))
      expect(deleted.response.status).toBe(204)
      const gone = yield* Effect.promise(() => client.GET("/users/{id}", { params: { path: { id: user.id } } }))
      expect(gone.response.status).toBe(404)
      expect(gone.error).toMatchObject({ _tag: "UserNotFound", id: user.id })

      // Typed errors come back typed: a bad field is a ValidationError naming it.
      const bad = yield* Effect.promise(() => client.POST("/users", { body: { ...input, firstName: "\u200b" } }))
      expect(bad.response.status).toBe(400)
      expect(bad.error).toMatchObject({ _tag: "ValidationError", fields: [{ field: "firstName" }] })
    }))
})
