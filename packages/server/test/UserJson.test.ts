import { User } from "@birthday/domain"
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { userFromRow, userJsonFromRow, type UserRow } from "../src/UserRepository.js"

const row = (overrides: Partial<UserRow> = {}): UserRow => ({
  id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
  first_name: "Zoë 𝒜",
  last_name: "O\"Brien",
  email: "zoe@example.com",
  birthday: "1990-02-28",
  anniversary: null,
  time_zone: "Asia/Kolkata",
  slice: 17,
  created_at: new Date("2026-03-01T10:11:12.345Z"),
  updated_at: new Date("2026-03-02T00:00:00.000Z"),
  ...overrides
})

describe("userJsonFromRow", () => {
  it("is exactly what the User schema encodes, key order included", () => {
    for (
      const r of [row(), row({ anniversary: "2015-06-07" }), row({ created_at: new Date(0), updated_at: new Date(1) })]
    ) {
      const viaSchema = Schema.encodeSync(User)(userFromRow(r))
      expect(JSON.stringify(userJsonFromRow(r))).toBe(JSON.stringify(viaSchema))
    }
  })
})
