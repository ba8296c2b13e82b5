import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { rawRequest } from "./support/RawHttp.js"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

const valid = userInput({ email: "valid@example.com" })
const without = (field: string) => Object.fromEntries(Object.entries(valid).filter(([key]) => key !== field))

/** [case name, body, field that must be named]. Every case must be answered 400 and change nothing. */
const badInputs: ReadonlyArray<readonly [string, unknown, string]> = [
  ["missing firstName", without("firstName"), "firstName"],
  ["missing lastName", without("lastName"), "lastName"],
  ["missing email", without("email"), "email"],
  ["missing birthday", without("birthday"), "birthday"],
  ["missing timeZone", without("timeZone"), "timeZone"],
  ["empty firstName", { ...valid, firstName: "" }, "firstName"],
  ["blank lastName", { ...valid, lastName: "   " }, "lastName"],
  ["firstName over 100 chars", { ...valid, firstName: "x".repeat(101) }, "firstName"],
  ["lastName over 100 chars", { ...valid, lastName: "y".repeat(101) }, "lastName"],
  ["firstName a number", { ...valid, firstName: 42 }, "firstName"],
  ["lastName null", { ...valid, lastName: null }, "lastName"],
  ["email without @", { ...valid, email: "ada.example.com" }, "email"],
  ["email without domain dot", { ...valid, email: "ada@example" }, "email"],
  ["email with space", { ...valid, email: "ada lovelace@example.com" }, "email"],
  ["email two @", { ...valid, email: "a@b@example.com" }, "email"],
  ["email empty", { ...valid, email: "" }, "email"],
  ["email too long", { ...valid, email: `${"a".repeat(250)}@example.com` }, "email"],
  ["birthday as instant", { ...valid, birthday: "1990-04-17T00:00:00Z" }, "birthday"],
  ["birthday US format", { ...valid, birthday: "04/17/1990" }, "birthday"],
  ["birthday Feb 30", { ...valid, birthday: "1990-02-30" }, "birthday"],
  ["birthday Feb 29 non-leap", { ...valid, birthday: "1991-02-29" }, "birthday"],
  ["birthday month 13", { ...valid, birthday: "1990-13-01" }, "birthday"],
  ["birthday before 1900", { ...valid, birthday: "1899-12-31" }, "birthday"],
  ["birthday in the future", { ...valid, birthday: "2999-01-01" }, "birthday"],
  ["birthday a number", { ...valid, birthday: 19900417 }, "birthday"],
  ["timeZone unknown", { ...valid, timeZone: "Mars/Olympus_Mons" }, "timeZone"],
  ["timeZone an offset", { ...valid, timeZone: "+05:30" }, "timeZone"],
  ["timeZone empty", { ...valid, timeZone: "" }, "timeZone"],
  ["timeZone abbreviation", { ...valid, timeZone: "PST" }, "timeZone"],
  ["anniversary invalid date", { ...valid, anniversary: "2020-02-31" }, "anniversary"],
  ["anniversary in the future", { ...valid, anniversary: "2999-06-01" }, "anniversary"],
  ["anniversary a boolean", { ...valid, anniversary: true }, "anniversary"],
  ["unknown field", { ...valid, nickname: "Ada" }, "nickname"],
  ["body an array", [valid], "body"],
  ["body a string", "Ada", "body"],
  ["body null", null, "body"]
]

layer(testServerLayer(), { excludeTestServices: true })("user validation", (it) => {
  it.effect(`rejects ${badInputs.length} bad inputs on create and update, naming the field, writing nothing`, () =>
    Effect.gen(function*() {
      const { baseUrl, client, databaseUrl } = yield* TestServer
      const existing = yield* client.users.create({ payload: userInput(), headers: {} })
      const counts = () =>
        query<{ users: string; audit: string; updated: Date }>(
          databaseUrl,
          "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM audit_log) AS audit, (SELECT max(updated_at) FROM users) AS updated"
        )
      const before = yield* counts()
      for (const [name, body, field] of badInputs) {
        for (const [method, path] of [["POST", "/users"], ["PUT", `/users/${existing.id}`]] as const) {
          const response = yield* rawRequest(`${baseUrl}${path}`, { method, body: JSON.stringify(body) })
          expect(response.status, `${name} (${method})`).toBe(400)
          expect(response.json?._tag, name).toBe("ValidationError")
          expect(response.json.fields.map((issue: { field: string }) => issue.field), name).toContain(field)
          expect(response.json.message, name).toContain(field)
          expect(response.json.message, name).not.toContain("└─")
        }
      }
      expect(yield* counts()).toEqual(before)
      expect((yield* client.users.get({ path: { id: existing.id } })).email).toBe(existing.email)
    }))

  it.effect("names every bad field of one body at once", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      const response = yield* rawRequest(`${baseUrl}/users`, {
        method: "POST",
        body: JSON.stringify({ firstName: "", email: "nope", birthday: "1990-02-30", timeZone: "Nowhere/City" })
      })
      expect(response.status).toBe(400)
      expect(response.json.fields.map((issue: { field: string }) => issue.field).sort()).toEqual(
        ["birthday", "email", "firstName", "lastName", "timeZone"]
      )
    }))

  it.effect("answers malformed JSON with 400 and oversize bodies with 413", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const before = yield* query(databaseUrl, "SELECT count(*) AS n FROM users")
      const malformed = yield* rawRequest(`${baseUrl}/users`, { method: "POST", body: "{\"firstName\": \"Ada\"," })
      expect(malformed.status).toBe(400)
      expect(malformed.json._tag).toBe("MalformedJson")
      const huge = yield* rawRequest(`${baseUrl}/users`, {
        method: "POST",
        body: JSON.stringify({ ...valid, firstName: "x".repeat(1024 * 1024 + 10) })
      })
      expect(huge.status).toBe(413)
      expect(huge.json._tag).toBe("PayloadTooLarge")
      expect(yield* query(databaseUrl, "SELECT count(*) AS n FROM users")).toEqual(before)
    }))

  it.effect("rejects bad list parameters by name", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* TestServer
      for (
        const [params, field] of [["limit=0", "limit"], ["limit=501", "limit"], ["limit=abc", "limit"], [
          "cursor=%%%",
          "cursor"
        ]] as const
      ) {
        const response = yield* rawRequest(`${baseUrl}/users?${params}`, { method: "GET" })
        expect(response.status, params).toBe(400)
        expect(response.json.fields[0].field, params).toBe(field)
      }
    }))
})
