import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { useServer } from "./TestServer.js"

const server = useServer()
const { run } = server
const psql = (statement: string) => execFileSync("psql", [server.databaseUrl, "-qAtc", statement]).toString().trim()

describe("birthday ledger check", () => {
  it("exits 0 on a clean ledger and 1 with the offending keys on a broken one", async () => {
    const empty = await run("ledger", "check")
    expect(empty.exitCode).toBe(0)
    expect(empty.stdout).toMatch(/^INVARIANT\s+VIOLATIONS\s+MEANING/)
    expect(empty.stdout).toContain("clean: 0 live users")

    const added = await run(
      "users",
      "add",
      "--first-name",
      "Ada",
      "--last-name",
      "Lovelace",
      "--birthday",
      "1985-12-10",
      "--time-zone",
      "Europe/London",
      "--email",
      "ledger@example.com",
      "--json"
    )
    const user = JSON.parse(added.stdout) as { id: string }
    const clean = await run("ledger", "check", "--json")
    expect(clean.exitCode).toBe(0)
    expect(JSON.parse(clean.stdout)).toMatchObject({ clean: true, violationCount: 0, users: 1, occurrences: 1 })

    // The user's only occurrence is gone: never greeted again.
    psql(`DELETE FROM occurrences WHERE user_id = '${user.id}'`)
    const broken = await run("ledger", "check", "--json")
    expect(broken.exitCode).toBe(1)
    expect(broken.stderr).toBe("error: ledger check found 1 violations")
    const report = JSON.parse(broken.stdout) as {
      clean: boolean
      violations: Array<{ kind: string; count: number; samples: Array<{ userId: string }> }>
    }
    expect(report.clean).toBe(false)
    const missing = report.violations.find((violation) => violation.kind === "missing_next")!
    expect(missing.count).toBe(1)
    expect(missing.samples.map((sample) => sample.userId)).toEqual([user.id])

    const table = await run("ledger", "check")
    expect(table.exitCode).toBe(1)
    expect(table.stdout).toMatch(/missing_next\s+1/)
    expect(table.stdout).toContain(`user ${user.id}`)
    expect(table.stdout).toContain("1 violations")
  })
})
