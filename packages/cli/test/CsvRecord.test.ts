import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { sliceRanges } from "../src/ClusterActions.js"
import { hasOpenQuote, parseCsvRecord } from "../src/CsvRecord.js"
import { formatOf } from "../src/ImportFile.js"

describe("parseCsvRecord", () => {
  it("splits plain and quoted fields", () => {
    expect(parseCsvRecord("a,b,,d")).toEqual(Either.right(["a", "b", "", "d"]))
    expect(parseCsvRecord("\"Mary, Jr.\",\"O\"\"Brien\",x")).toEqual(Either.right(["Mary, Jr.", "O\"Brien", "x"]))
    expect(parseCsvRecord("\"two\nlines\",y")).toEqual(Either.right(["two\nlines", "y"]))
  })

  it("reports broken quoting", () => {
    expect(Either.isLeft(parseCsvRecord("\"open,b"))).toBe(true)
    expect(Either.isLeft(parseCsvRecord("\"a\"b,c"))).toBe(true)
    expect(hasOpenQuote("\"open,b")).toBe(true)
    expect(hasOpenQuote("\"a\"\"b\",c")).toBe(false)
  })
})

describe("import helpers", () => {
  it("picks the format from the extension", () => {
    expect(formatOf("people.csv")).toBe("csv")
    expect(formatOf("people.ndjson")).toBe("ndjson")
    expect(formatOf("people.jsonl")).toBe("ndjson")
  })

  it("prints slice numbers as ranges", () => {
    expect(sliceRanges([])).toBe("-")
    expect(sliceRanges([5, 0, 1, 2, 7, 8, 10])).toBe("0-2,5,7-8,10")
  })
})
