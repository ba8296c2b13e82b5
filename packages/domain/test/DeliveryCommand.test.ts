import { describe, expect, it } from "@effect/vitest"
import { DateTime, Schema } from "effect"
import { DeliveryCommand, deliveryCommandOfRow, encodeDeliveryCommand } from "../src/DeliveryCommand.js"

describe("encodeDeliveryCommand", () => {
  it("writes exactly what the schema's encoder writes, and decodes back to the command", () => {
    const instants = [0, 951_782_400_000, 1_798_761_599_999, 1_830_297_600_123]
    for (const [index, dueAt] of instants.entries()) {
      const command = DeliveryCommand.make({
        key: `birthday:0190c7a2-0000-7000-8000-00000000000${index}:2027`,
        kind: index % 2 === 0 ? "birthday" : "anniversary",
        userId: `0190c7a2-0000-7000-8000-00000000000${index}`,
        year: 2027,
        dueAt: DateTime.unsafeMake(dueAt),
        deadlineAt: DateTime.unsafeMake(dueAt + 48 * 3_600_000)
      })
      const encoded = encodeDeliveryCommand(command)
      expect(encoded).toStrictEqual(Schema.encodeSync(DeliveryCommand)(command))
      expect(Schema.decodeSync(DeliveryCommand)(JSON.parse(JSON.stringify(encoded)))).toEqual(command)
    }
  })
})

describe("deliveryCommandOfRow", () => {
  it("carries a ledger row's key, kind, user, year and instants", () => {
    const row = {
      key: "anniversary:0190c7a2-0000-7000-8000-000000000001:2027",
      kind: "anniversary",
      user_id: "0190c7a2-0000-7000-8000-000000000001",
      year: 2027,
      due_at: new Date("2027-06-01T07:00:00.000Z"),
      deadline_at: new Date("2027-06-03T07:00:00.000Z")
    }
    expect(encodeDeliveryCommand(deliveryCommandOfRow(row))).toStrictEqual({
      key: row.key,
      kind: "anniversary",
      userId: row.user_id,
      year: 2027,
      dueAt: "2027-06-01T07:00:00.000Z",
      deadlineAt: "2027-06-03T07:00:00.000Z"
    })
  })
})
