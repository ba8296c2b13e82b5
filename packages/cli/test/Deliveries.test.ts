import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { useServer } from "./TestServer.js"

const server = useServer()

const { run } = server
const json = <A = any>(stdout: string): A => JSON.parse(stdout)
const psql = (statement: string) => execFileSync("psql", [server.databaseUrl, "-qAtc", statement]).toString().trim()

// Born on tomorrow's UTC date, in UTC: the next birthday is due 09:00 UTC tomorrow, 9–33 h from now.
const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(5, 10)

describe("birthday occurrences, deliveries and dlq", () => {
  it("lists, shows and refuses to replay a pending occurrence; lists and counts dead ones", async () => {
    const added = await run(
      "users",
      "add",
      "--first-name",
      "Grace",
      "--last-name",
      "Hopper",
      "--email",
      "grace@example.com",
      "--birthday",
      `1986-${tomorrow}`,
      "--time-zone",
      "UTC",
      "--json"
    )
    const user = json(added.stdout)

    const upcoming = await run("occurrences", "upcoming", "--hours", "48", "--json")
    expect(upcoming.exitCode).toBe(0)
    const [due] = json(upcoming.stdout).items
    expect(due).toMatchObject({ userId: user.id, kind: "birthday", state: "pending" })
    expect((await run("occurrences", "upcoming", "--hours", "48")).stdout).toContain(due.key)
    expect(json((await run("occurrences", "upcoming", "--hours", "1", "--json")).stdout).items).toEqual([])

    const listed = await run("deliveries", "list", "--user", user.id, "--json")
    expect(json(listed.stdout).items.map((item: { key: string }) => item.key)).toEqual([due.key])

    const shown = await run("deliveries", "show", due.key, "--json")
    expect(json(shown.stdout)).toMatchObject({ delivery: { key: due.key, state: "pending" }, attempts: [] })
    expect((await run("deliveries", "show", due.key)).stdout).toContain("No attempts yet.")

    const pendingReplay = await run("deliveries", "replay", due.key)
    expect(pendingReplay.exitCode).toBe(1)
    expect(pendingReplay.stderr.split("\n")).toHaveLength(1)
    const unknown = await run("deliveries", "show", "birthday:nobody:2027")
    expect(unknown.exitCode).toBe(1)
    expect(unknown.stderr).toMatch(/^error: .*birthday:nobody:2027/)

    expect(json((await run("dlq", "list", "--json")).stdout).items).toEqual([])
    psql(
      `UPDATE occurrences SET state = 'dead', last_error = '550 mailbox unavailable', due_at = now() - interval '1 day'
          WHERE key = '${due.key}'`
    )
    const dead = await run("dlq", "list", "--json")
    expect(json(dead.stdout).items).toEqual([
      expect.objectContaining({ key: due.key, lastError: "550 mailbox unavailable" })
    ])
    expect((await run("dlq", "list")).stdout).toContain("550 mailbox unavailable")
    const dryRun = await run("dlq", "replay", "--dry-run", "--json")
    expect(json(dryRun.stdout)).toEqual({ matched: 1, replayed: 0, published: 0, dryRun: true })
    expect((await run("dlq", "replay", "--dry-run")).stdout).toBe("1 dead occurrence(s) would be replayed (dry run)")

    const stats = json((await run("stats", "--json")).stdout)
    expect(stats.states.dead).toBe(1)

    // Sent 2 s after it was due: the one lateness sample of the last hour.
    psql(`UPDATE occurrences SET state = 'sent', sent_at = now(), due_at = now() - interval '2 seconds'
          WHERE key = '${due.key}'`)
    const sent = json((await run("stats", "--json")).stdout)
    expect(sent.states).toMatchObject({ sent: 1 })
    expect(sent.lateness.samples).toBe(1)
    expect(sent.lateness.p50Ms).toBeCloseTo(2000, -1)
    expect((await run("stats")).stdout).toMatch(/p50 2000 ms, p99 2000 ms/)
  })
})
