import { afterAll, describe, expect, it } from "@effect/vitest"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cli, useServer } from "./TestServer.js"

const server = useServer()
const dir = mkdtempSync(join(tmpdir(), "birthday-import-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"]
const row = (i: number) =>
  `First${i},Last${i},user${i}@example.com,19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 10},${zones[i % zones.length]},`

describe("birthday users import", () => {
  it("imports 10,000 CSV rows, reports the 3 bad ones by line, and skips them all on a re-run", async () => {
    const lines = ["firstName,lastName,email,birthday,timeZone,anniversary"]
    for (let i = 0; i < 10_000; i++) lines.push(row(i))
    // Line numbers count the header as line 1, so row i sits on line i + 2.
    lines[101] = "Bad,Email,not-an-email,1980-01-01,Europe/Berlin,"
    lines[5001] = "Bad,Zone,badzone@example.com,1980-01-01,Mars/Olympus,"
    lines[9999] = "Bad,Date,baddate@example.com,1980-02-30,UTC,"
    const file = join(dir, "users.csv")
    writeFileSync(file, lines.join("\n") + "\n")

    const first = await cli(server.url, "users", "import", file, "--json")
    // Rejected rows make the import fail (exit 1) after the summary, so scripts can tell.
    expect(first.exitCode).toBe(1)
    expect(first.stderr).toContain("3 row(s) rejected")
    const summary = JSON.parse(first.stdout)
    expect(summary).toMatchObject({ rows: 10_000, created: 9_997, skipped: 0 })
    expect(summary.rejected.map((rejected: { line: number }) => rejected.line)).toEqual([102, 5002, 10000])
    expect(summary.rejected[0].message).toContain("email")
    expect(summary.rejected[1].message).toContain("timeZone must be an IANA time zone name")

    const again = await cli(server.url, "users", "import", file)
    expect(again.exitCode).toBe(1)
    expect(again.stdout).toContain("0 created, 9997 skipped (email already taken), 3 rejected")
    expect(again.stdout).toMatch(/line 102: .*email/)

    const stats = JSON.parse((await cli(server.url, "stats", "--json")).stdout)
    // Every imported user got a birthday occurrence; nobody in the file has an anniversary.
    expect(stats.states.pending).toBeGreaterThanOrEqual(9_997)
  })

  it("reads NDJSON and quoted CSV, reporting unreadable lines", async () => {
    const ndjson = join(dir, "users.ndjson")
    writeFileSync(
      ndjson,
      [
        JSON.stringify({
          firstName: "Nd",
          lastName: "One",
          email: "nd1@example.com",
          birthday: "1990-03-04",
          timeZone: "UTC"
        }),
        "{not json",
        "",
        JSON.stringify({
          firstName: "Nd",
          lastName: "Two",
          email: "nd2@example.com",
          birthday: "1991-03-04",
          timeZone: "UTC",
          anniversary: "2015-06-07"
        })
      ].join("\n")
    )
    const nd = JSON.parse((await cli(server.url, "users", "import", ndjson, "--json")).stdout)
    expect(nd).toMatchObject({ created: 2, skipped: 0 })
    expect(nd.rejected).toEqual([
      expect.objectContaining({ line: 2, message: expect.stringContaining("not valid JSON") })
    ])

    const csv = join(dir, "quoted.csv")
    writeFileSync(
      csv,
      "email,firstName,lastName,birthday,timeZone\n" +
        "q1@example.com,\"Mary, Jr.\",\"O\"\"Brien\",1970-01-01,UTC\n" +
        "q2@example.com,\"Multi\nLine\",X,1970-01-01,UTC\n" +
        "q3@example.com,Too,Many,1970-01-01,UTC,extra\n" +
        // A quote inside an unquoted field is literal: it must not swallow the rows after it.
        "q4@example.com,Ann,O\"Brien,1970-01-01,UTC\n" +
        "q5@example.com,After,Quote,1970-01-01,UTC\n"
    )
    const quoted = JSON.parse((await cli(server.url, "users", "import", csv, "--json")).stdout)
    // The quoted newline keeps the record whole (one record, line 3), and the server refuses a
    // name with a control character in it.
    expect(quoted).toMatchObject({ created: 3 })
    expect(quoted.rejected).toEqual([
      expect.objectContaining({ line: 3, message: expect.stringContaining("control characters") }),
      expect.objectContaining({ line: 5, message: expect.stringContaining("6 fields") })
    ])
    const listed = JSON.parse((await cli(server.url, "users", "list", "--all", "--json")).stdout)
    expect(listed.items.map((user: { lastName: string }) => user.lastName)).toEqual(
      expect.arrayContaining(["O\"Brien", "Quote"])
    )
  })

  it("fails in one line on a header that does not name the API's fields", async () => {
    const file = join(dir, "bad-header.csv")
    writeFileSync(file, "first,last,email\nA,B,c@example.com\n")
    const bad = await cli(server.url, "users", "import", file)
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toMatch(/^error: unknown column "first" in the header/)
  })
})
