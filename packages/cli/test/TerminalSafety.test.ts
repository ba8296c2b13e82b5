import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { hasOpenQuote, parseCsvRecord } from "../src/CsvRecord.js"
import { printable, renderFields, renderTable } from "../src/Table.js"

describe("terminal output", () => {
  it("shows control characters and bidi overrides as escapes instead of obeying them", () => {
    expect(printable("Eve\u001b[2J")).toBe("Eve\\u001b[2J")
    expect(printable("a\u0000b\u202ec\u0085")).toBe("a\\u0000b\\u202ec\\u0085")
    expect(printable("Zoë 𝒜 ‍")).toBe("Zoë 𝒜 ‍")
    const table = renderTable([{ header: "NAME", cell: (row: string) => row }], ["Mallory\u001b]0;pwned\u0007"])
    expect(table.includes("\u001b") || table.includes("\u0007")).toBe(false)
    expect(table).toContain("Mallory\\u001b]0;pwned\\u0007")
    expect(renderFields([["name", "x\u001b[31m"]])).toBe("name  x\\u001b[31m")
  })
})

describe("CSV quoting", () => {
  // Every case: whether the record is still open, and (when closed) the fields the parser reads.
  const cases: ReadonlyArray<readonly [string, boolean, ReadonlyArray<string> | undefined]> = [
    ["Ann,O\"Brien,a@example.com", false, ["Ann", "O\"Brien", "a@example.com"]],
    ["Ann,\"O\"\"Brien\",x", false, ["Ann", "O\"Brien", "x"]],
    ["Ann,\"Multi", true, undefined],
    ["Ann,\"Multi\nLine\",x", false, ["Ann", "Multi\nLine", "x"]],
    ["a\"b\"c,d", false, ["a\"b\"c", "d"]],
    ["\"\",x", false, ["", "x"]],
    ["x,\"a,\"\"b", true, undefined]
  ]
  it("agrees with the parser on where a quoted field opens", () => {
    for (const [text, open, fields] of cases) {
      expect(hasOpenQuote(text), text).toBe(open)
      if (fields !== undefined) expect(parseCsvRecord(text), text).toEqual(Either.right(fields))
      else expect(Either.isLeft(parseCsvRecord(text)), text).toBe(true)
    }
  })
})
