/**
 * A table of hostile requests, each sent as raw bytes against the real server with tokens set:
 * every one must get its expected status, a JSON error body of the API's one shape
 * `{ _tag, message, fields? }` (naming the field where there is one), and leave the database
 * exactly as it was. No 500, no hang, no input echoed back at length.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Redacted } from "effect"
import pg from "pg"
import { heldRequest, hostileRequest, type HostileResponse } from "./support/HostileHttp.js"
import { query } from "./support/TestDatabase.js"
import { TestServer, testServerLayer } from "./support/TestServer.js"
import { userInput } from "./support/UserFixtures.js"

const ops = "Bearer s3cret-ops"
const env = {
  API_TOKENS: "ops:s3cret-ops,ci:s3cret-ci",
  RATE_LIMIT_PER_SECOND: "100000",
  RATE_LIMIT_BURST: "100000"
}

/** A digest of every table a request could write to. */
const snapshot = (url: Redacted.Redacted) =>
  query<{ digest: string }>(
    url,
    `SELECT concat_ws(':', ${
      ["users", "occurrences", "audit_log", "idempotency_keys"].map((table) =>
        `(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM ${table} t)`
      ).join(", ")
    }) AS digest`
  ).pipe(Effect.map((rows) => rows[0]!.digest))

interface Case {
  readonly name: string
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string | Buffer
  readonly chunked?: { readonly totalBytes: number; readonly chunkBytes: number }
  /** Bytes sent as they are on a raw connection instead (what no HTTP client would send). */
  readonly raw?: string
  readonly status: number
  /** The error's `_tag`; undefined for a success that must still change nothing. */
  readonly tag?: string
  /** A field the error must name. */
  readonly field?: string
  /** A pattern the error's message (or the named field's reason) must match. */
  readonly says?: RegExp
  /** The message must be shorter than this (it must not echo the request back). */
  readonly messageUnder?: number
}

const json = (value: unknown) => JSON.stringify(value)
const authed = (headers: Record<string, string> = {}) => ({
  authorization: ops,
  "content-type": "application/json",
  ...headers
})
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
const user = (overrides: Record<string, unknown>) => json(userInput(overrides))
const withNul = (text: string) => `${text}\u0000`
const importRows = (baseUrl: string, rows: ReadonlyArray<unknown>) =>
  hostileRequest(baseUrl, { method: "POST", path: "/users/bulk", headers: authed(), body: json({ rows }) })
/** Creates a user as the holder of `authorization` (the ops token unless named). */
const createUser = (baseUrl: string, authorization = ops) =>
  hostileRequest(baseUrl, { method: "POST", path: "/users", headers: authed({ authorization }), body: user({}) })
/** Makes the user's occurrence `dead`, which a replay starts from, and gives its key. */
const deadOccurrenceOf = (databaseUrl: Redacted.Redacted, userId: string) =>
  query<{ key: string }>(
    databaseUrl,
    "UPDATE occurrences SET state = 'dead' WHERE user_id = $1 RETURNING key",
    [userId]
  ).pipe(Effect.map((rows) => rows[0]!.key))
/** Grace values that are not whole seconds from 0 to a year, as they appear in a query string. */
const notWholeSeconds = [
  "1e3",
  "0x10",
  "%205",
  "5%20",
  "",
  "-1",
  "-0",
  "Infinity",
  "NaN",
  "1.5",
  "%2B5",
  "31536001",
  "999999999999"
]
/** `{"k0":0,"k1":0,…}`, 649 KB: the error formatting once compared every key with every other (40 s). */
const manyUnknownKeys = json(Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`k${i}`, 0])))

const cases = (fixture: { readonly id: string; readonly key: string }): ReadonlyArray<Case> => {
  const { id, key } = fixture
  const bulkWindow = { from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z" }
  const authCases: Array<Case> = [
    ["no Authorization header", undefined],
    ["an empty Authorization header", ""],
    ["Bearer and no token", "Bearer "],
    ["seven junk characters then the token", "XXXXXXXs3cret-ops"],
    ["another scheme's spelling", "Token: s3cret-ops"],
    ["Basic credentials", `Basic ${Buffer.from("ops:s3cret-ops").toString("base64")}`],
    ["a prefix of the token", "Bearer s3cret-op"],
    ["the token and more", "Bearer s3cret-opsX"],
    ["the token in upper case", "Bearer S3CRET-OPS"],
    ["two credentials in one header", "Bearer junk, Bearer s3cret-ops"],
    ["the token with a NUL-looking suffix", "Bearer s3cret-ops%00"],
    ["a tab inside", "Bearer\ts3cret-ops"]
  ].flatMap(([name, header]) =>
    [["GET", "/users"], ["POST", "/users"], ["GET", "/metrics"]].map(([method, path]): Case => ({
      name: `${method} ${path} with ${name}`,
      method: method!,
      path: path!,
      headers: header === undefined ? {} : { authorization: header },
      ...(method === "POST" ? { body: user({}) } : {}),
      status: 401,
      tag: "Unauthorized"
    }))
  )
  const unauthenticatedWrites: Array<Case> = [
    { name: "update without a token", method: "PUT", path: `/users/${id}`, body: user({}), status: 401 },
    { name: "delete without a token", method: "DELETE", path: `/users/${id}`, status: 401 },
    { name: "bulk import without a token", method: "POST", path: "/users/bulk", body: json({ rows: [] }), status: 401 },
    { name: "replay without a token", method: "POST", path: `/deliveries/${key}/replay`, status: 401 },
    {
      name: "bulk replay without a token",
      method: "POST",
      path: "/deliveries/replay",
      body: json(bulkWindow),
      status: 401
    },
    { name: "deliveries without a token", method: "GET", path: "/deliveries", status: 401 }
  ].map((c) => ({ ...c, tag: "Unauthorized" }))

  const fieldCases: Array<Case> = ([
    ["NUL in firstName", { firstName: withNul("Ada") }, "firstName"],
    ["NUL in lastName", { lastName: withNul("Lovelace") }, "lastName"],
    ["NUL in email", { email: withNul("ada@example.com") }, "email"],
    ["NUL in timeZone", { timeZone: withNul("Europe/London") }, "timeZone"],
    ["NUL in birthday", { birthday: withNul("1990-04-17") }, "birthday"],
    ["NUL in anniversary", { anniversary: withNul("2010-01-01") }, "anniversary"],
    ["ESC sequence in firstName", { firstName: "Eve\u001b[2J" }, "firstName"],
    ["bell in lastName", { lastName: "Eve\u0007" }, "lastName"],
    ["newline in lastName", { lastName: "Multi\nLine" }, "lastName"],
    ["a C1 control in firstName", { firstName: "Eve\u0085" }, "firstName"],
    ["zero-width spaces only", { firstName: "\u200b\u200b\u200b" }, "firstName"],
    ["word joiners only", { lastName: "\u2060\u2060" }, "lastName"],
    ["combining marks only", { firstName: "\u0301\u0301" }, "firstName"],
    ["a bidi override", { firstName: "Ada\u202eecalevol" }, "firstName"],
    ["101 astral characters", { firstName: "𝒜".repeat(101) }, "firstName"],
    ["101 ASCII characters", { lastName: "a".repeat(101) }, "lastName"],
    ["a zero-width space in email", { email: "ada\u200b@example.com" }, "email"],
    ["an email of 255 characters", { email: `${"a".repeat(243)}@example.com` }, "email"],
    ["a number as name", { firstName: 42 }, "firstName"],
    ["an object as name", { firstName: { $ne: null } }, "firstName"],
    ["an array as email", { email: ["a@example.com"] }, "email"],
    ["a 1 MB name", { firstName: "x".repeat(1_000_000) }, "firstName"],
    ["an unknown field with NUL in its name", { "\u0000": 1 }, "\\u0000"],
    ["an unknown field with an ESC sequence in its name", { "a\u001b[2J": 1 }, "a\\u001b[2J"],
    ["an unknown field with a C1 control and a bidi override", { "a\u009b\u202e": 1 }, "a\\u009b\\u202e"],
    ["an unknown field of 1 MB", { ["k".repeat(1_000_000)]: 1 }, `${"k".repeat(64)}…`],
    ["an unknown field of 100,000 ESCs", { ["\u001b".repeat(100_000)]: 1 }, `${"\\u001b".repeat(10)}…`],
    ["a prototype-polluting field", { __proto__: { admin: true }, constructor: 1 }, "constructor"],
    // JSON.stringify spells a lone surrogate as its escape ("\ud800"): what a hostile client sends.
    ["a lone high surrogate in firstName", { firstName: "A\ud800da" }, "firstName"],
    ["a lone low surrogate in lastName", { lastName: "\udc00" }, "lastName"],
    ["a surrogate pair reversed in email", { email: "ada\udc00\ud800@example.com" }, "email"],
    ["a lone surrogate in timeZone", { timeZone: "Europe/London\ud800" }, "timeZone"],
    ["a lone surrogate in a field's name", { "first\ud800": "Ada" }, "first\\ud800"],
    // Names that show nothing once the invisible is taken away, and bidi controls anywhere.
    ["a braille blank", { firstName: "\u2800" }, "firstName"],
    ["braille blanks and spaces", { lastName: "\u2800 \u2800" }, "lastName"],
    ["a zero width space and a braille blank", { firstName: "\u200b\u2800" }, "firstName"],
    ["left-to-right and right-to-left marks only", { firstName: "\u200e\u200f" }, "firstName"],
    ["an Arabic letter mark only", { lastName: "\u061c" }, "lastName"],
    ["tag characters only", { firstName: "\u{E0041}\u{E0064}\u{E0061}" }, "firstName"],
    ["hidden tag text after a name", { firstName: "Ada\u{E0069}\u{E0067}\u{E006E}" }, "firstName"],
    ["a hundred stacked combining marks", { lastName: "\u0301\u0308\u0327".repeat(33) }, "lastName"],
    ["combining marks on a braille blank", { firstName: "\u2800\u0301\u0301" }, "firstName"],
    ["a Hangul filler", { firstName: "\u3164" }, "firstName"],
    ["a combining grapheme joiner and variation selectors", { firstName: "\u034f\ufe0f\u{E0100}" }, "firstName"],
    ["soft hyphens only", { lastName: "\u00ad\u00ad" }, "lastName"],
    ["a left-to-right embedding", { firstName: "Ada\u202a" }, "firstName"],
    ["a right-to-left override in lastName", { lastName: "\u202eecalevoL" }, "lastName"],
    ["a first strong isolate", { firstName: "Ada\u2068x\u2069" }, "firstName"],
    ["a pop directional isolate alone", { lastName: "Love\u2069lace" }, "lastName"],
    // Email forms RFC 5321 mail to a person does not use, or that are not addresses at all.
    ...[
      "a..b@example.com",
      ".ada@example.com",
      "ada.@example.com",
      "\"ada lovelace\"@example.com",
      "ada(comment)@example.com",
      "ada<x>@example.com",
      "a,b@example.com",
      "a;b@example.com",
      "a\\b@example.com",
      "a:b@example.com",
      "ada@[127.0.0.1]",
      "ada@127.0.0.1",
      "ada@localhost",
      "ada@-example.com",
      "ada@example-.com",
      "ada@exa_mple.com",
      "ada@ex!ample.com",
      "ada@example.com.",
      "ada@.example.com",
      "ada@example.c",
      "ada@example.123",
      "ada@example.com:25",
      "@example.com",
      "ada@",
      `${"a".repeat(65)}@example.com`,
      `ada@${"a".repeat(64)}.com`,
      "ada\u2800@example.com"
    ].map((email) => [`the email ${email.slice(0, 40)}`, { email }, "email"] as const),
    // Days no calendar has: never rolled over into the next month.
    ["birthday 2021-02-29 (not a leap year)", { birthday: "2021-02-29" }, "birthday"],
    ["birthday 2020-02-30", { birthday: "2020-02-30" }, "birthday"],
    ["birthday 2020-04-31", { birthday: "2020-04-31" }, "birthday"],
    ["birthday 2020-13-01", { birthday: "2020-13-01" }, "birthday"],
    ["birthday 2020-00-10", { birthday: "2020-00-10" }, "birthday"],
    ["birthday 2020-01-00", { birthday: "2020-01-00" }, "birthday"],
    ["anniversary 1900-02-29 (not a leap year)", { anniversary: "1900-02-29" }, "anniversary"],
    ["anniversary 2019-02-29", { anniversary: "2019-02-29" }, "anniversary"]
  ] as const).map(([name, overrides, field]): Case => ({
    name: `POST /users with ${name}`,
    method: "POST",
    path: "/users",
    headers: authed(),
    body: user(overrides),
    status: 400,
    tag: "ValidationError",
    field
  }))

  // Half a surrogate pair and bytes that are not UTF-8 are not text, on every route that takes
  // one (they were a 500 on create and import, and U+FFFD stored by an update).
  const withBytes = (before: string, bytes: ReadonlyArray<number>, after: string) =>
    Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)])
  const [userHead, userTail] = user({ firstName: "Ada" }).split("Ada") as [string, string]
  const unicodeCases: Array<Case> = [
    {
      name: "PUT /users/{id} with a lone surrogate in lastName",
      method: "PUT",
      path: `/users/${id}`,
      body: user({ lastName: "Love\ud800lace" }),
      status: 400,
      tag: "ValidationError",
      field: "lastName"
    },
    {
      name: "PUT /users/{id} with invalid UTF-8 in firstName",
      method: "PUT",
      path: `/users/${id}`,
      body: withBytes(userHead, [0x41, 0xff, 0x42], userTail),
      status: 400,
      tag: "MalformedJson"
    },
    {
      name: "POST /users with an encoded surrogate (CESU-8) in firstName",
      method: "POST",
      path: "/users",
      body: withBytes(userHead, [0xed, 0xa0, 0x80], userTail),
      status: 400,
      tag: "MalformedJson"
    },
    {
      name: "POST /users with an overlong NUL in firstName",
      method: "POST",
      path: "/users",
      body: withBytes(userHead, [0xc0, 0x80], userTail),
      status: 400,
      tag: "MalformedJson"
    },
    {
      name: "POST /users/bulk with a lone surrogate in a row",
      method: "POST",
      path: "/users/bulk",
      body: json({ rows: [{ line: 2, user: userInput() }, { line: 3, user: userInput({ firstName: "\ud83d" }) }] }),
      status: 400,
      tag: "ValidationError",
      field: "rows.1.user.firstName"
    },
    {
      name: "POST /deliveries/replay with a lone surrogate as kind",
      method: "POST",
      path: "/deliveries/replay",
      body: json({ ...bulkWindow, kind: "birthday\udfff" }),
      status: 400,
      tag: "ValidationError",
      field: "kind"
    }
  ].map((c) => ({ ...c, headers: authed() }))

  const bodyCases: Array<Case> = [
    { name: "100k-deep nested JSON", body: nested(100_000), status: 400, tag: "MalformedJson" },
    {
      name: "60,000 unknown keys",
      body: manyUnknownKeys,
      status: 400,
      tag: "ValidationError",
      says: /; and 59,?9\d\d more fields$/
    },
    ...[
      [
        "not JSON, with an ESC sequence",
        "{\u001b[2J: 1}",
        /^Request body is not valid JSON: unexpected input at character 1$/
      ],
      [
        "an ESC sequence after the JSON",
        "{}\u001b[2J",
        /^Request body is not valid JSON: unexpected input at character 2$/
      ],
      ["an ESC as a token", "[1,\u001b]", /^Request body is not valid JSON$/],
      ["a body cut short", "{\"firstName\": \"Ada", /^Request body is not valid JSON: it ends too soon$/]
    ].map(([name, body, says]) => ({
      name: name as string,
      body: body as string,
      status: 400,
      tag: "MalformedJson",
      says: says as RegExp
    })),
    {
      name: "100k-deep nested object",
      body: "{\"a\":".repeat(100_000) + "1" + "}".repeat(100_000),
      status: 400,
      tag: "MalformedJson"
    },
    {
      name: "a field nested 40 deep",
      body: json({ ...userInput(), firstName: JSON.parse(nested(40)) }),
      status: 400,
      tag: "MalformedJson"
    },
    { name: "not JSON", body: "{firstName: Ada}", status: 400, tag: "MalformedJson" },
    { name: "an empty body", body: "", status: 400, tag: "MalformedJson" },
    { name: "a truncated body", body: user({}).slice(0, 20), status: 400, tag: "MalformedJson" },
    { name: "JSON null", body: "null", status: 400, tag: "ValidationError", field: "body" },
    { name: "a JSON array", body: "[]", status: 400, tag: "ValidationError", field: "body" },
    { name: "a JSON string", body: "\"Ada\"", status: 400, tag: "ValidationError", field: "body" },
    { name: "invalid UTF-8", body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), status: 400, tag: "MalformedJson" },
    {
      name: "a declared 2 MiB body",
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
      status: 413,
      tag: "PayloadTooLarge"
    },
    {
      name: "a chunked 8 MiB body",
      chunked: { totalBytes: 8 * 1024 * 1024, chunkBytes: 64 * 1024 },
      status: 413,
      tag: "PayloadTooLarge"
    }
  ].map((c) => ({ ...c, name: `POST /users with ${c.name}`, method: "POST", path: "/users", headers: authed() }))

  const idempotencyCases: Array<Case> = [
    ["an empty Idempotency-Key", ""],
    ["an Idempotency-Key of 3,000 characters", "k".repeat(3000)],
    ["an Idempotency-Key of 256 characters", "k".repeat(256)],
    ["an Idempotency-Key with a space", "retry 1"],
    ["an Idempotency-Key with a tab", "retry\t1"],
    ["an Idempotency-Key with Latin-1 letters", "cl\u00e9"]
  ].map(([name, value]): Case => ({
    name: `POST /users with ${name}`,
    method: "POST",
    path: "/users",
    headers: authed({ "idempotency-key": value! }),
    body: user({}),
    status: 400,
    tag: "ValidationError",
    field: "Idempotency-Key"
  }))

  const replayBody = (
    body: string | Buffer,
    contentType: string,
    name: string,
    status: number,
    tag: string,
    field?: string
  ): Case => ({
    name: `POST /deliveries/replay with ${name}`,
    method: "POST",
    path: "/deliveries/replay",
    headers: authed({ "content-type": contentType }),
    body,
    status,
    tag,
    ...(field === undefined ? {} : { field })
  })
  const replayCases: Array<Case> = [
    {
      ...replayBody(
        json({ from: "0", to: "12", dryRun: true }),
        "application/json",
        "from and to that are not ISO 8601",
        400,
        "ValidationError",
        "from"
      ),
      says: /^must be an ISO 8601 instant with a zone designator/
    },
    replayBody(
      json({ from: "2000-01-01T00:00:00Z", to: "May 5 2020", dryRun: true }),
      "application/json",
      "a to in words",
      400,
      "ValidationError",
      "to"
    ),
    replayBody(manyUnknownKeys, "application/json", "60,000 unknown keys", 400, "ValidationError", "k19"),
    replayBody(
      json({ ...bulkWindow, ["k".repeat(1_000_000)]: 1 }),
      "application/json",
      "an unknown field of 1 MB",
      400,
      "ValidationError",
      `${"k".repeat(64)}…`
    ),
    {
      name: "PUT /users/{id} with an unknown field of 1 MB",
      method: "PUT",
      path: `/users/${id}`,
      headers: authed(),
      body: user({ ["k".repeat(1_000_000)]: 1 }),
      status: 400,
      tag: "ValidationError",
      field: `${"k".repeat(64)}…`,
      messageUnder: 1000
    },
    {
      name: "PUT /users/{id} with 60,000 unknown keys",
      method: "PUT",
      path: `/users/${id}`,
      headers: authed(),
      body: manyUnknownKeys,
      status: 400,
      tag: "ValidationError",
      field: "k0"
    },
    replayBody("--x\r\ngarbage", "multipart/form-data", "multipart without a boundary", 400, "MalformedJson"),
    replayBody(
      "--x\r\ngarbage\r\n\r\n",
      "multipart/form-data; boundary=x",
      "a garbage multipart body",
      400,
      "MalformedJson"
    ),
    replayBody(
      "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
      "application/x-www-form-urlencoded",
      "a form body",
      400,
      "MalformedJson"
    ),
    replayBody("replay everything", "text/plain", "a text body", 400, "MalformedJson"),
    replayBody(Buffer.alloc(2 * 1024 * 1024, 0x20), "application/json", "a 2 MiB body", 413, "PayloadTooLarge"),
    replayBody(nested(100_000), "application/json", "100k-deep nested JSON", 400, "MalformedJson"),
    replayBody(
      json({ ...bulkWindow, from: "-271821-04-20T00:00:00Z" }),
      "application/json",
      "an instant JavaScript holds and Postgres does not",
      400,
      "ValidationError",
      "from"
    ),
    replayBody(
      json({ ...bulkWindow, to: "+275760-09-13T00:00:00Z" }),
      "application/json",
      "the last instant JavaScript holds",
      400,
      "ValidationError",
      "to"
    ),
    replayBody(
      json({ ...bulkWindow, kind: "\u0000" }),
      "application/json",
      "NUL as kind",
      400,
      "ValidationError",
      "kind"
    ),
    replayBody(
      json({ ...bulkWindow, kind: "birthday\u0000" }),
      "application/json",
      "NUL after a kind",
      400,
      "ValidationError",
      "kind"
    ),
    replayBody(json({ to: bulkWindow.to }), "application/json", "no from", 400, "ValidationError", "from"),
    replayBody(
      json({ from: "2020-02-30T00:00:00Z", to: bulkWindow.to }),
      "application/json",
      "from on 2020-02-30",
      400,
      "ValidationError",
      "from"
    ),
    replayBody(
      json({ from: bulkWindow.from, to: "2021-02-29T00:00:00Z", dryRun: true }),
      "application/json",
      "to on 2021-02-29",
      400,
      "ValidationError",
      "to"
    ),
    replayBody(
      json({ ...bulkWindow, states: ["sent"] }),
      "application/json",
      "a state that cannot be replayed",
      400,
      "ValidationError",
      "states.0"
    ),
    replayBody(
      json({ ...bulkWindow, dryRun: "yes" }),
      "application/json",
      "a string as dryRun",
      400,
      "ValidationError",
      "dryRun"
    ),
    replayBody(
      json({ ...bulkWindow, everything: true }),
      "application/json",
      "an unknown field",
      400,
      "ValidationError",
      "everything"
    ),
    replayBody(
      json({ from: bulkWindow.to, to: bulkWindow.from }),
      "application/json",
      "from after to",
      400,
      "DeliveryQueryInvalid"
    ),
    replayBody("[1,2]", "application/json", "an array", 400, "ValidationError", "body"),
    {
      ...replayBody(
        json({ ...bulkWindow, kind: "Birthday" }),
        "application/json",
        "a kind in capitals",
        400,
        "ValidationError",
        "kind"
      ),
      says: /^must be a kind name/
    },
    {
      ...replayBody(
        json({ ...bulkWindow, dryRun: 1 }),
        "application/json",
        "a number as dryRun",
        400,
        "ValidationError",
        "dryRun"
      ),
      says: /^must be a boolean$/
    },
    {
      ...replayBody(
        json({ ...bulkWindow, states: "dead" }),
        "application/json",
        "states not in an array",
        400,
        "ValidationError",
        "states"
      ),
      says: /^must be an array of /
    },
    {
      ...replayBody(
        json({ ...bulkWindow, kind: null }),
        "application/json",
        "null as kind",
        400,
        "ValidationError",
        "kind"
      ),
      says: /^must be a string$/
    }
  ]

  const get = (path: string, status: number, tag: string, field?: string): Case => ({
    name: `GET ${path.length > 80 ? `${path.slice(0, 80)}…` : path}`,
    method: "GET",
    path,
    headers: { authorization: ops },
    status,
    tag,
    ...(field === undefined ? {} : { field })
  })
  const queryCases: Array<Case> = [
    get("/users?cursor=%00", 400, "ValidationError", "cursor"),
    get(`/users?cursor=${Buffer.from("\u0000").toString("base64url")}`, 400, "ValidationError", "cursor"),
    get("/users?limit=%00", 400, "ValidationError", "limit"),
    get("/users?limit=-1", 400, "ValidationError", "limit"),
    get("/users?limit=1e2", 400, "ValidationError", "limit"),
    get("/users?limit=501", 400, "ValidationError", "limit"),
    get("/users?%00=1", 400, "ValidationError"),
    get("/users/%00", 400, "ValidationError", "path"),
    get("/users/%ED%A0%80", 400, "ValidationError", "path"),
    get("/users?cursor=%C0%80", 400, "ValidationError", "cursor"),
    get("/deliveries?kind=%ED%B0%80", 400, "ValidationError", "kind"),
    get(`/deliveries/${key}%FF`, 400, "ValidationError", "path"),
    get(`/users/${id}%00`, 400, "ValidationError", "path"),
    // C1 controls too: U+0085 is a newline to some log viewers, U+009B an 8-bit CSI.
    get("/users/%C2%85x", 400, "ValidationError", "path"),
    get("/deliveries/%C2%9B2J", 400, "ValidationError", "path"),
    get("/deliveries?userId=%C2%85", 400, "ValidationError", "userId"),
    get("/users?cursor=%C2%9F", 400, "ValidationError", "cursor"),
    get("/users/not-a-uuid", 404, "UserNotFound"),
    get(`/users/${id}/occurrences%00`, 400, "ValidationError", "path"),
    get("/deliveries?from=-271821-04-20T00:00:00Z", 400, "ValidationError", "from"),
    get("/deliveries?to=%2B275760-09-13T00:00:00Z", 400, "ValidationError", "to"),
    get("/deliveries?from=yesterday", 400, "ValidationError", "from"),
    get("/deliveries?kind=%00", 400, "ValidationError", "kind"),
    get("/deliveries?kind=Birthday%20Party", 400, "ValidationError", "kind"),
    get("/deliveries?userId=%00", 400, "ValidationError", "userId"),
    get(`/deliveries?userId=${id}%00`, 400, "ValidationError", "userId"),
    get("/deliveries?state=bogus", 400, "ValidationError", "state"),
    get("/deliveries?limit=0", 400, "ValidationError", "limit"),
    get("/deliveries?limit=abc", 400, "ValidationError", "limit"),
    get(`/deliveries?cursor=${cursorOf(["2020-01-01T00:00:00.000Z", "\u0000"])}`, 400, "DeliveryQueryInvalid"),
    get(`/deliveries?cursor=${cursorOf(["-271821-04-20T00:00:00.000Z", "k"])}`, 400, "DeliveryQueryInvalid"),
    get(`/deliveries?cursor=${cursorOf({ a: 1 })}`, 400, "DeliveryQueryInvalid"),
    // A cursor this API returned holds the instant exactly as it wrote it; Date rolled this one to March 1.
    get(`/deliveries?cursor=${cursorOf(["2020-02-30T00:00:00.000Z", "k"])}`, 400, "DeliveryQueryInvalid"),
    get("/deliveries?cursor=%00", 400, "ValidationError", "cursor"),
    get("/deliveries?cursor=%%%", 400, "DeliveryQueryInvalid"),
    get("/deliveries/%00", 400, "ValidationError", "path"),
    get(`/deliveries/${encodeURIComponent(withNul(key))}`, 400, "ValidationError", "path"),
    get("/deliveries/no-such-key", 404, "DeliveryNotFound"),
    { ...get("/deliveries/%00/replay", 400, "ValidationError", "path"), method: "POST" },
    { ...get("/deliveries/no-such-key/replay", 404, "DeliveryNotFound"), method: "POST" },
    {
      ...get(`/deliveries/${key}/replay`, 409, "DeliveryNotReplayable"),
      method: "POST",
      name: "replay a pending occurrence"
    },
    {
      ...get(`/${"x".repeat(3000)}`, 404, "RouteNotFound"),
      name: "GET a 3,000-character path",
      says: /^No route GET \/x{63}…$/,
      messageUnder: 100
    },
    {
      ...get(`/%E2%80%AE${"%41".repeat(500)}`, 404, "RouteNotFound"),
      name: "GET an escaped path of 1,500 characters",
      messageUnder: 100
    },
    { ...get("/deliveries?state=bogus", 400, "ValidationError", "state"), says: /^must be one of "pending", / },
    { ...get("/deliveries?limit=abc", 400, "ValidationError", "limit"), says: /^must be an integer from 1 to 500$/ },
    ...["0x10", "1e2", "%2010", "10.0", "-0", "501", "0"].map((limit) => ({
      ...get(`/deliveries?limit=${limit}`, 400, "ValidationError", "limit"),
      says: /^must be an integer from 1 to 500$/
    })),
    ...["0x10", "1e1", "10001"].map((limit) => ({
      ...get(`/ledger/check?limit=${limit}`, 400, "ValidationError", "limit"),
      says: /^must be an integer from 0 to 10000$/
    })),
    // `Number` read each of these as a number of seconds (or 0, or Infinity).
    ...["deadlineGraceSeconds", "sendingGraceSeconds"].flatMap((name) =>
      notWholeSeconds.map((value) => ({
        ...get(`/ledger/check?${name}=${value}`, 400, "ValidationError", name),
        says: /^must be an integer from 0 to 31536000$/
      }))
    ),
    // JavaScript's Date read each of these as an instant; none is ISO 8601 with a zone.
    ...[
      "0",
      "12",
      "May%205%202020",
      "2020-01-01%2000:00",
      "2020-01-01",
      "2020-01-01T00:00:00",
      "1577836800000",
      "2020-01-01t00:00:00z"
    ].map((
      from
    ) => ({
      ...get(`/deliveries?from=${from}`, 400, "ValidationError", "from"),
      says: /^must be an ISO 8601 instant with a zone designator/
    })),
    get("/deliveries?to=May%205%202020", 400, "ValidationError", "to"),
    // Instants no calendar or clock has (Date rolled 02-30 to March 1 and 24:00 to the next day).
    ...([
      ["from", "2020-02-30T00:00:00Z", /^must be a date and time that exists: 2020-02 has no day 30$/],
      ["from", "2021-02-29T09:00:00Z", /^must be a date and time that exists: 2021-02 has no day 29$/],
      ["to", "2020-04-31T00:00:00Z", /^must be a date and time that exists: 2020-04 has no day 31$/],
      ["from", "1900-02-29T00:00:00Z", /^must be a date and time that exists: 1900-02 has no day 29$/],
      ["to", "2020-13-01T00:00:00Z", /^must be a date and time that exists: month must be 01–12$/],
      ["from", "2020-00-10T00:00:00Z", /^must be a date and time that exists: month must be 01–12$/],
      ["from", "2020-01-00T00:00:00Z", /^must be a date and time that exists: 2020-01 has no day 00$/],
      ["from", "2020-01-01T24:00:00Z", /^must be a date and time that exists: hour must be 00–23$/],
      ["to", "2020-01-01T23:60:00Z", /^must be a date and time that exists: minute must be 00–59$/],
      ["to", "2020-01-01T23:59:60Z", /^must be a date and time that exists: second must be 00–59$/],
      ["from", "2020-01-01T00:00:00%2B24:00", /^must be a date and time that exists: zone offset must be/],
      ["from", "2020-01-01T00:00:00-05:60", /^must be a date and time that exists: zone offset must be/]
    ] as const).map(([field, value, says]) => ({
      ...get(`/deliveries?${field}=${value}`, 400, "ValidationError", field),
      says
    })),
    ...([
      ["birthday", "2021-02-29", /^2021-02-29 is not a calendar day$/],
      ["anniversary", "2020-13-01", /^month must be 01–12/]
    ] as const).map(([field, value, says]): Case => ({
      name: `PUT /users/{id} with ${field} ${value}`,
      method: "PUT",
      path: `/users/${id}`,
      headers: authed(),
      body: user({ [field]: value }),
      status: 400,
      tag: "ValidationError",
      field,
      says
    })),
    { ...get("/deliveries?from=yesterday", 400, "ValidationError", "from"), says: /^must be an ISO 8601 instant/ },
    get("/nope", 404, "RouteNotFound"),
    get("/", 404, "RouteNotFound"),
    get(`/users/${id}/x/y`, 404, "RouteNotFound"),
    { ...get(`/users/${id}`, 404, "RouteNotFound"), method: "PATCH", name: "PATCH, a method no route has" },
    { ...get("/users", 404, "RouteNotFound"), method: "TRACE", name: "TRACE /users" }
  ]

  // What Node's HTTP parser refuses, answered in the error shape instead of a bare 400/431.
  const rawCases: Array<Case> = ([
    ["a garbage request line", "GARBAGE\r\n\r\n", 400, "MalformedRequest"],
    ["a method with an @", "G@T /users HTTP/1.1\r\nHost: x\r\n\r\n", 400, "MalformedRequest"],
    ["a header without a colon", "GET /users HTTP/1.1\r\nHost x\r\n\r\n", 400, "MalformedRequest"],
    ["a NUL in a header value", "GET /users HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n", 400, "MalformedRequest"],
    ["a space before a header's colon", "GET /users HTTP/1.1\r\nHost : x\r\n\r\n", 400, "MalformedRequest"],
    [
      "Content-Length and Transfer-Encoding together",
      "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
      "MalformedRequest"
    ],
    [
      "two different Content-Lengths",
      "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      400,
      "MalformedRequest"
    ],
    [
      "a chunk size that is not hex",
      `POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: ${ops}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      400,
      "MalformedRequest"
    ],
    [
      "an Expect header other than 100-continue",
      "GET /users HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n",
      417,
      "ExpectationFailed"
    ],
    [
      // Answered at once, without a 100 Continue inviting the body (the parser reads that as status 100).
      "Expect: 100-continue with a length over the limit",
      `POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: ${ops}\r\nContent-Type: application/json\r\n` +
      "Expect: 100-continue\r\nContent-Length: 2097152\r\n\r\n",
      413,
      "PayloadTooLarge"
    ],
    [
      "Expect: 100-continue with a length over the bulk import's limit",
      `POST /users/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: ${ops}\r\nContent-Type: application/json\r\n` +
      "Expect: 100-continue\r\nContent-Length: 9437184\r\n\r\n",
      413,
      "PayloadTooLarge"
    ],
    [
      "20 KiB of headers",
      `GET /users HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20 * 1024)}\r\n\r\n`,
      431,
      "HeadersTooLarge"
    ],
    // Node answered these itself: an empty 400, and a closed connection with no answer at all.
    ["an HTTP/1.1 request without a Host header", "GET /users HTTP/1.1\r\n\r\n", 400, "MalformedRequest"],
    [
      "a read of one user without a Host header",
      `GET /users/${id} HTTP/1.1\r\nAuthorization: ${ops}\r\n\r\n`,
      400,
      "MalformedRequest"
    ],
    [
      "a create without a Host header",
      `POST /users HTTP/1.1\r\nAuthorization: ${ops}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      400,
      "MalformedRequest"
    ],
    ["CONNECT", "CONNECT x:1 HTTP/1.1\r\nHost: x:1\r\n\r\n", 405, "MethodNotAllowed"],
    ["CONNECT without a Host header", "CONNECT x:1 HTTP/1.1\r\n\r\n", 405, "MethodNotAllowed"]
  ] as const).map(([name, raw, status, tag]): Case => ({
    name: `raw: ${name}`,
    method: "",
    path: "",
    raw,
    status,
    tag,
    messageUnder: 200
  }))

  const importCases: Array<Case> = [
    {
      name: "rows that are not an array",
      body: json({ rows: "all of them" }),
      status: 400,
      tag: "ValidationError",
      field: "rows"
    },
    {
      name: "a 1 MB line number",
      body: json({ rows: [{ line: "9".repeat(1_000_000), user: {} }] }),
      status: 400,
      tag: "ValidationError",
      field: "rows.0.line"
    },
    { name: "no rows field", body: json({ users: [] }), status: 400, tag: "ValidationError", field: "rows" },
    {
      name: "a fractional line number",
      body: json({ rows: [{ line: 1.5, user: userInput() }] }),
      status: 400,
      tag: "ValidationError",
      field: "rows.0.line",
      says: /^must be an integer$/
    },
    { name: "100k-deep nested JSON", body: nested(100_000), status: 400, tag: "MalformedJson" },
    { name: "a 9 MiB body", body: Buffer.alloc(9 * 1024 * 1024, 0x20), status: 413, tag: "PayloadTooLarge" }
  ].map((c) => ({
    ...c,
    name: `POST /users/bulk with ${c.name}`,
    method: "POST",
    path: "/users/bulk",
    headers: authed()
  }))

  return [
    ...authCases,
    ...unauthenticatedWrites,
    ...fieldCases,
    ...unicodeCases,
    ...bodyCases,
    ...idempotencyCases,
    ...replayCases,
    ...queryCases,
    ...rawCases,
    ...importCases
  ]
}

const expectErrorShape = (response: HostileResponse, c: Case) => {
  const label = `${c.name} → ${response.status} ${response.text.slice(0, 300)}`
  expect(response.status, label).toBe(c.status)
  if (c.tag === undefined) return
  expect(response.json, label).toBeTypeOf("object")
  expect(response.json._tag, label).toBe(c.tag)
  expect(response.json.message, label).toBeTypeOf("string")
  const allowed = new Set([
    "_tag",
    "message",
    "fields",
    "limitBytes",
    "id",
    "key",
    "state",
    "email",
    "retryAfterSeconds"
  ])
  expect(Object.keys(response.json).filter((name) => !allowed.has(name)), label).toEqual([])
  if (response.json.fields !== undefined) {
    expect(Array.isArray(response.json.fields), label).toBe(true)
    for (const issue of response.json.fields) {
      expect(issue.field, label).toBeTypeOf("string")
      expect(issue.reason, label).toBeTypeOf("string")
    }
  }
  if (c.field !== undefined) {
    expect(response.json.fields?.map((issue: { field: string }) => issue.field), label).toContain(c.field)
  }
  if (response.json.fields !== undefined) {
    // One issue per field, each saying what is wanted (a union once read "kind must be undefined").
    const fields = response.json.fields.map((issue: { field: string }) => issue.field)
    expect(new Set(fields).size, label).toBe(fields.length)
    for (const issue of response.json.fields) expect(issue.reason, label).not.toMatch(/undefined/)
  }
  if (c.says !== undefined) {
    const said = c.field === undefined
      ? response.json.message
      : response.json.fields.find((issue: { field: string }) => issue.field === c.field).reason
    expect(said, label).toMatch(c.says)
  }
  if (c.messageUnder !== undefined) expect(response.json.message.length, label).toBeLessThan(c.messageUnder)
  // Nothing a client sent comes back able to act on a terminal (an ESC in a key once did).
  const shown = [
    response.json.message,
    ...(response.json.fields ?? []).flatMap((issue: any) => [issue.field, issue.reason])
  ]
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  for (const text of shown) expect(text, label).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/)
  // Errors never echo the input back at length (a 1 MB line once produced a 2 MB error).
  expect(response.text.length, label).toBeLessThan(16_384)
  expect(response.headers["content-type"], label).toMatch(/^application\/json/)
}

layer(testServerLayer(env), { excludeTestServices: true })("hostile input", (it) => {
  it.effect(
    "answers every hostile request with its 4xx, the one error shape, and no change",
    () =>
      Effect.gen(function*() {
        const { baseUrl, databaseUrl } = yield* TestServer
        const created = yield* createUser(baseUrl)
        expect(created.status).toBe(201)
        const [occurrence] = yield* query<{ key: string }>(
          databaseUrl,
          "SELECT key FROM occurrences WHERE user_id = $1",
          [
            created.json.id
          ]
        )
        const table = cases({ id: created.json.id, key: occurrence!.key })
        expect(table.length).toBeGreaterThanOrEqual(100)
        for (const c of table) {
          const before = yield* snapshot(databaseUrl)
          const response = c.raw === undefined
            ? yield* hostileRequest(baseUrl, c)
            : yield* heldRequest(baseUrl, "127.0.0.1", c.raw, 15_000)
          expectErrorShape(response, c)
          expect(yield* snapshot(databaseUrl), `${c.name} changed the database`).toBe(before)
        }
        // And the server is still fine for a well-behaved client.
        const after = yield* hostileRequest(baseUrl, {
          method: "GET",
          path: `/users/${created.json.id}`,
          headers: authed()
        })
        expect(after.status).toBe(200)
        console.log(`hostile input: ${table.length} requests, each refused with its 4xx and no change`)
      }),
    { timeout: 300_000 }
  )
})

layer(testServerLayer({ ...env, IDEMPOTENCY_TTL: "1 second" }), { excludeTestServices: true })(
  "hostile input that must still work",
  (it) => {
    it.effect("one NUL row in a bulk import is rejected by line; the rest of the batch is created", () =>
      Effect.gen(function*() {
        const { baseUrl, databaseUrl } = yield* TestServer
        const rows = Array.from({ length: 50 }, (_, i) => ({ line: i + 2, user: userInput() }))
        rows[17] = { line: 19, user: userInput({ lastName: "Null\u0000Byte" }) }
        rows[33] = { line: 35, user: userInput({ firstName: "\u200b" }) }
        const response = yield* importRows(baseUrl, rows)
        expect(response.status, response.text.slice(0, 300)).toBe(200)
        expect(response.json.created).toBe(48)
        expect(response.json.rejected.map((row: { line: number }) => row.line)).toEqual([19, 35])
        expect(response.json.rejected[0].fields[0]).toMatchObject({ field: "lastName" })
        const [{ count }] = yield* query<{ count: string }>(databaseUrl, "SELECT count(*) FROM users")
        expect(Number(count)).toBe(48)
      }))

    it.effect("60,000 unknown keys are refused at once on every route, the server answering meanwhile", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        const created = yield* createUser(baseUrl)
        const sends: ReadonlyArray<readonly [string, string, string]> = [
          ["POST", "/users", manyUnknownKeys],
          ["PUT", `/users/${created.json.id}`, manyUnknownKeys],
          ["POST", "/deliveries/replay", manyUnknownKeys],
          ["POST", "/users/bulk", `{"rows":[{"line":2,"user":${manyUnknownKeys}}]}`]
        ]
        for (const [method, path, body] of sends) {
          const label = `${method} ${path}`
          const [answer, live] = yield* Effect.all([
            hostileRequest(baseUrl, { method, path, headers: authed(), body, timeoutMs: 30_000 }),
            Effect.sleep("50 millis").pipe(
              Effect.zipRight(hostileRequest(baseUrl, { method: "GET", path: "/health/live", timeoutMs: 30_000 }))
            )
          ], { concurrency: 2 })
          expect(live.status, label).toBe(200)
          // Generous: it took 40 s; the probe waited as long.
          expect(live.elapsedMs, label).toBeLessThan(10_000)
          expect(answer.elapsedMs, label).toBeLessThan(10_000)
          const error = path === "/users/bulk" ? answer.json.rejected[0] : answer.json
          expect(answer.status, label).toBe(path === "/users/bulk" ? 200 : 400)
          expect(error.fields.length, label).toBe(20)
          expect(error.message, label).toMatch(/; and 59,?9\d\d more fields$/)
          expect(answer.text.length, label).toBeLessThan(4096)
        }
      }))

    it.effect("a bulk row's unknown field is named in at most 64 characters, its controls escaped", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        const rows = [
          { line: 2, user: { ...userInput(), ["k".repeat(1_000_000)]: 1 } },
          { line: 3, user: { ...userInput(), "a\u001b[2J": 1 } }
        ]
        const response = yield* importRows(baseUrl, rows)
        expect(response.status, response.text.slice(0, 300)).toBe(200)
        expect(response.text.length).toBeLessThan(2000)
        const [long, escaped] = response.json.rejected
        expect(long.fields.map((issue: { field: string }) => issue.field)).toEqual([`${"k".repeat(64)}…`])
        expect(escaped.fields.map((issue: { field: string }) => issue.field)).toEqual(["a\\u001b[2J"])
        expect(escaped.message).not.toContain("\u001b")
      }))

    it.effect("Expect: 100-continue within the limit is invited and served", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        const body = user({})
        const head = `POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: ${ops}\r\nContent-Type: application/json\r\n` +
          `Expect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`
        const invited = yield* heldRequest(baseUrl, "127.0.0.1", head)
        expect(invited.status).toBe(100)
        invited.socket.write(body)
        const created = yield* heldRequest(baseUrl, "127.0.0.1", "", 10_000, { socket: invited.socket })
        expect(created.status, created.text.slice(0, 200)).toBe(201)
        invited.socket.destroy()
      }))

    it.effect("takes every ISO 8601 instant with a zone as a delivery window bound", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        const instants = [
          "2020-01-01T00:00:00Z",
          "2020-01-01T00:00Z",
          "2020-01-01T00:00:00.123456Z",
          "2020-01-01T01:00:00%2B01:00",
          "2019-12-31T19:00:00-05:00",
          "2020-02-29T23:59:59Z",
          "2000-02-29T00:00:00-12:00",
          "2020-12-31T23:59:59.999%2B23:59"
        ]
        for (const from of instants) {
          const response = yield* hostileRequest(baseUrl, {
            method: "GET",
            path: `/deliveries?from=${from}&limit=007`,
            headers: authed()
          })
          expect(response.status, `${from}: ${response.text.slice(0, 200)}`).toBe(200)
        }
      }))

    it.effect("takes whole seconds from 0 to a year as the ledger check's graces", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        for (const [deadline, sending] of [["0", "31536000"], ["300", "007"]] as const) {
          const response = yield* hostileRequest(baseUrl, {
            method: "GET",
            path: `/ledger/check?limit=0&deadlineGraceSeconds=${deadline}&sendingGraceSeconds=${sending}`,
            headers: authed()
          })
          expect(response.status, response.text.slice(0, 200)).toBe(200)
          expect(response.json).toMatchObject({
            deadlineGraceSeconds: Number(deadline),
            sendingGraceSeconds: Number(sending)
          })
        }
      }))

    it.effect("accepts names of every script and the email forms people have", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        const valid: ReadonlyArray<Record<string, string>> = [
          { firstName: "محمد\u200cرضا", lastName: "\u200fשלום" },
          { firstName: "Zoë", lastName: "O'Brien-Smith" },
          { firstName: "李", lastName: "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}" },
          { firstName: "a\u0301", lastName: "Ada\u200b" },
          { email: "first.last+tag@sub.example.co.uk" },
          { email: "o'brien_x@example.com" },
          { email: "UPPER@EXAMPLE.COM" },
          { email: "josé@bücher.de" },
          { email: "ada@xn--bcher-kva.xn--p1ai" },
          { email: "1@2.io" }
        ]
        for (const overrides of valid) {
          const response = yield* hostileRequest(baseUrl, {
            method: "POST",
            path: "/users",
            headers: authed(),
            body: user(overrides)
          })
          expect(response.status, `${JSON.stringify(overrides)} → ${response.text.slice(0, 300)}`).toBe(201)
        }
      }))

    it.effect("updated_at never goes backwards when writes to one user race", () =>
      Effect.gen(function*() {
        const { baseUrl, databaseUrl } = yield* TestServer
        const send = (method: string, path: string, body?: string) =>
          hostileRequest(baseUrl, { method, path, headers: authed(), ...(body === undefined ? {} : { body }) })
        // Every change of a users row, as Postgres saw it.
        yield* query(
          databaseUrl,
          `CREATE TABLE updated_at_log (id uuid, before timestamptz, after timestamptz);
           CREATE FUNCTION log_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
             INSERT INTO updated_at_log VALUES (NEW.id, OLD.updated_at, NEW.updated_at); RETURN NEW; END $$;
           CREATE TRIGGER log_updated_at AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION log_updated_at();`
        )

        // A DELETE takes its timestamp, then waits for the row lock of a writer that commits a later one.
        const created = yield* send("POST", "/users", user({}))
        const id: string = created.json.id
        const holder = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: Redacted.value(databaseUrl) })
            await client.connect()
            await client.query("BEGIN")
            await client.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [id])
            return client
          }),
          (client) => Effect.promise(() => client.end())
        )
        const deleting = yield* Effect.fork(send("DELETE", `/users/${id}`))
        yield* Effect.sleep("300 millis")
        const [{ updated_at: committed }] = (yield* Effect.promise(() =>
          holder.query<{ updated_at: Date }>(
            "UPDATE users SET updated_at = clock_timestamp() WHERE id = $1 RETURNING updated_at",
            [id]
          )
        )).rows as [{ updated_at: Date }]
        yield* Effect.promise(() => holder.query("COMMIT"))
        expect((yield* Fiber.join(deleting)).status).toBe(204)
        const [row] = yield* query<{ updated_at: Date; deleted_at: Date }>(
          databaseUrl,
          "SELECT updated_at, deleted_at FROM users WHERE id = $1",
          [id]
        )
        expect(row!.updated_at.getTime()).toBeGreaterThanOrEqual(committed.getTime())
        expect(row!.deleted_at.getTime()).toBeGreaterThanOrEqual(committed.getTime())

        // Many PUTs and a DELETE per user at once, across 20 users.
        const users = yield* Effect.forEach(Array.from({ length: 20 }), () => send("POST", "/users", user({})))
        const writes = users.flatMap((created) => [
          ...Array.from({ length: 4 }, (_, i) =>
            send("PUT", `/users/${created.json.id}`, user({ lastName: `Edit${i}` }))),
          send("DELETE", `/users/${created.json.id}`)
        ])
        const answers = yield* Effect.all(writes, { concurrency: 25 })
        for (const answer of answers) {
          expect([200, 204, 404], answer.text.slice(0, 200)).toContain(answer.status)
        }
        const backwards = yield* query(databaseUrl, "SELECT * FROM updated_at_log WHERE after < before")
        expect(backwards).toEqual([])
        const [{ changes }] = yield* query<{ changes: string }>(
          databaseUrl,
          "SELECT count(*) AS changes FROM updated_at_log"
        )
        expect(Number(changes)).toBeGreaterThanOrEqual(21)
      }).pipe(Effect.scoped))

    it.effect("counts characters, not UTF-16 units: 100 astral characters are a valid name", () =>
      Effect.gen(function*() {
        const { baseUrl } = yield* TestServer
        const response = yield* hostileRequest(baseUrl, {
          method: "POST",
          path: "/users",
          headers: authed(),
          body: user({ firstName: "𝒜".repeat(100), lastName: "Zoë\u200dJoined" })
        })
        expect(response.status, response.text.slice(0, 300)).toBe(201)
        expect(response.json.firstName).toBe("𝒜".repeat(100))
      }))

    it.effect("forgets an Idempotency-Key after IDEMPOTENCY_TTL and sweeps it away", () =>
      Effect.gen(function*() {
        const { baseUrl, databaseUrl } = yield* TestServer
        const create = (body: string) =>
          hostileRequest(baseUrl, {
            method: "POST",
            path: "/users",
            headers: authed({ "idempotency-key": "order-4711" }),
            body
          })
        const first = user({})
        const created = yield* create(first)
        expect(created.status).toBe(201)
        const replayed = yield* create(first)
        expect(replayed.status).toBe(201)
        expect(replayed.json.id).toBe(created.json.id)
        const other = user({})
        expect((yield* create(other)).json._tag).toBe("IdempotencyKeyReused")
        yield* Effect.sleep("1200 millis")
        const fresh = yield* create(other)
        expect(fresh.status).toBe(201)
        expect(fresh.json.id).not.toBe(created.json.id)
        // The sweep (every TTL here) deletes the key once it expires again.
        yield* Effect.sleep("2500 millis")
        const keys = yield* query(databaseUrl, "SELECT key FROM idempotency_keys")
        expect(keys).toEqual([])
      }))

    it.effect("an Idempotency-Key replays the same request however it is spelled, and only that", () =>
      Effect.gen(function*() {
        const { baseUrl, databaseUrl } = yield* TestServer
        const create = (body: string, key = "order-4712") =>
          hostileRequest(baseUrl, { method: "POST", path: "/users", headers: authed({ "idempotency-key": key }), body })
        const first = userInput({ timeZone: "Asia/Kolkata" })
        const created = yield* create(json(first))
        expect(created.status, created.text).toBe(201)
        const reversed = (value: Record<string, unknown>) => Object.fromEntries(Object.entries(value).reverse())
        // [how the retry is spelled, its body]: each means the same user.
        const sameRequest: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
          ["anniversary null instead of left out", { ...first, anniversary: null }],
          ["keys in another order", reversed({ ...first })],
          ["names and email with spaces around them", {
            ...first,
            firstName: ` ${first.firstName}\t`,
            lastName: `${first.lastName} `,
            email: ` ${first.email}`
          }],
          ["the zone by its old name (a link)", { ...first, timeZone: "Asia/Calcutta" }]
        ]
        for (const [spelling, body] of sameRequest) {
          const replayed = yield* create(json(body))
          expect(replayed.status, `${spelling}: ${replayed.text.slice(0, 200)}`).toBe(201)
          expect(replayed.json, spelling).toEqual(created.json)
        }
        // [what differs, its body]: another request under the same key.
        const otherRequest: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
          ["an anniversary", { ...first, anniversary: "2010-01-01" }],
          ["the email in other case (stored as given)", { ...first, email: first.email.toUpperCase() }],
          ["another zone", { ...first, timeZone: "Europe/London" }],
          ["another name", { ...first, firstName: "Grace" }]
        ]
        for (const [difference, body] of otherRequest) {
          const refused = yield* create(json(body))
          expect(refused.status, `${difference}: ${refused.text.slice(0, 200)}`).toBe(422)
          expect(refused.json._tag, difference).toBe("IdempotencyKeyReused")
        }
        // And the other way round: first with anniversary null, retried with it left out.
        const second = userInput()
        const withNull = yield* create(json({ ...second, anniversary: null }), "order-4713")
        expect(withNull.status, withNull.text).toBe(201)
        const withoutIt = yield* create(json(second), "order-4713")
        expect(withoutIt.status, withoutIt.text).toBe(201)
        expect(withoutIt.json).toEqual(withNull.json)
        const [{ count }] = yield* query<{ count: string }>(
          databaseUrl,
          "SELECT count(*) FROM users WHERE lower(email) IN (lower($1), lower($2))",
          [first.email, second.email]
        )
        expect(Number(count)).toBe(2)
      }))

    it.effect("audits single and bulk replays with the token's label as actor", () =>
      Effect.gen(function*() {
        const { baseUrl, databaseUrl } = yield* TestServer
        const created = yield* createUser(baseUrl, "Bearer s3cret-ci")
        const key = yield* deadOccurrenceOf(databaseUrl, created.json.id)
        const single = yield* hostileRequest(baseUrl, {
          method: "POST",
          path: `/deliveries/${key}/replay`,
          headers: authed({ authorization: "Bearer s3cret-ci" })
        })
        // NATS may or may not have the delivery stream in this test; the replay is recorded either way.
        expect(single.status, single.text).toBe(202)
        yield* query(databaseUrl, "UPDATE occurrences SET state = 'dead' WHERE key = $1", [key])
        const bulk = yield* hostileRequest(baseUrl, {
          method: "POST",
          path: "/deliveries/replay",
          headers: authed(),
          body: json({ from: "1900-01-01T00:00:00Z", to: "9999-01-01T00:00:00Z" })
        })
        expect(bulk.status, bulk.text).toBe(202)
        const audit = yield* query<{ actor: string; entity_id: string; after: { keys?: Array<string> } }>(
          databaseUrl,
          "SELECT actor, entity_id, after FROM audit_log WHERE action = 'replay' ORDER BY id"
        )
        expect(audit.map((row) => row.actor)).toEqual(["ci", "ops"])
        expect(audit[0]!.entity_id).toBe(key)
        expect(audit[1]!.after.keys).toEqual([key])
      }))
  }
)

// A stream prefix no runner created a stream for: every publish of a replay fails.
layer(
  testServerLayer({ ...env, NATS_STREAM_PREFIX: `nostream_${Date.now().toString(36)}` }),
  { excludeTestServices: true }
)("replay while the delivery stream is unavailable", (it) => {
  it.effect("answers 202 once the replay is recorded, saying its command waits for the sweeper", () =>
    Effect.gen(function*() {
      const { baseUrl, databaseUrl } = yield* TestServer
      const created = yield* createUser(baseUrl)
      const key = yield* deadOccurrenceOf(databaseUrl, created.json.id)
      const stateOf = query<{ state: string; replays: number }>(
        databaseUrl,
        "SELECT state, replays FROM occurrences WHERE key = $1",
        [key]
      ).pipe(Effect.map((rows) => rows[0]!))

      const single = yield* hostileRequest(baseUrl, {
        method: "POST",
        path: `/deliveries/${key}/replay`,
        headers: authed()
      })
      // The row is enqueued (the sweeper republishes it): the answer says so, not 503.
      expect(yield* stateOf).toEqual({ state: "enqueued", replays: 1 })
      expect(single.status, single.text).toBe(202)
      expect(single.json).toEqual({ key, state: "enqueued", replays: 1, published: false })

      yield* query(databaseUrl, "UPDATE occurrences SET state = 'dead' WHERE key = $1", [key])
      const window = { from: "1900-01-01T00:00:00Z", to: "9999-01-01T00:00:00Z" }
      const dryRun = yield* hostileRequest(baseUrl, {
        method: "POST",
        path: "/deliveries/replay",
        headers: authed(),
        body: json({ ...window, dryRun: true })
      })
      expect(dryRun.status, dryRun.text).toBe(200)
      expect(dryRun.json).toEqual({ matched: 1, replayed: 0, published: 0, dryRun: true })
      const bulk = yield* hostileRequest(baseUrl, {
        method: "POST",
        path: "/deliveries/replay",
        headers: authed(),
        body: json(window)
      })
      expect(yield* stateOf).toEqual({ state: "enqueued", replays: 2 })
      expect(bulk.status, bulk.text).toBe(202)
      expect(bulk.json).toEqual({ matched: 1, replayed: 1, published: 0, dryRun: false })
    }))
})
