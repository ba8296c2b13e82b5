import { describe, expect, it } from "@effect/vitest"
import { execFile, execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { freePort, useServer } from "./TestServer.js"

const server = useServer()

const { run } = server
const psql = (statement: string) => execFileSync("psql", [server.databaseUrl, "-qAtc", statement]).toString().trim()
const json = <A = any>(stdout: string): A => JSON.parse(stdout)
const ada = [
  "--first-name",
  "Ada",
  "--last-name",
  "Lovelace",
  "--birthday",
  "1985-12-10",
  "--time-zone",
  "Europe/London"
]

describe("birthday users", () => {
  it("adds, shows, lists, edits and deletes a user", async () => {
    const added = await run("users", "add", ...ada, "--email", "ada@example.com", "--json")
    expect(added.exitCode).toBe(0)
    const user = json(added.stdout)
    expect(user).toMatchObject({ firstName: "Ada", email: "ada@example.com", anniversary: null })

    const shown = await run("users", "show", user.id, "--json")
    expect(json(shown.stdout)).toEqual(user)
    const table = await run("users", "show", user.id)
    expect(table.stdout).toContain("Ada Lovelace")

    const listed = await run("users", "list", "--json", "--all")
    expect(listed.exitCode).toBe(0)
    expect(json(listed.stdout).items.map((item: { id: string }) => item.id)).toContain(user.id)
    expect((await run("users", "list")).stdout).toMatch(/ID\s+NAME\s+EMAIL/)

    const edited = await run(
      "users",
      "edit",
      user.id,
      "--time-zone",
      "America/New_York",
      "--anniversary",
      "2010-07-08",
      "--json"
    )
    expect(edited.exitCode).toBe(0)
    expect(json(edited.stdout)).toMatchObject({ id: user.id, timeZone: "America/New_York", anniversary: "2010-07-08" })

    const deleted = await run("users", "delete", user.id)
    expect(deleted).toMatchObject({ exitCode: 0, stdout: `Deleted user ${user.id}` })
    const gone = await run("users", "show", user.id)
    expect(gone).toMatchObject({ exitCode: 1, stderr: `error: No user with id ${user.id}` })
  })

  it("fails with the server's one-line reason on bad input", async () => {
    const future = ada.map((arg) => arg === "1985-12-10" ? "3000-01-01" : arg)
    const bad = await run("users", "add", ...future, "--email", "not-an-email")
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr.split("\n")).toHaveLength(1)
    expect(bad.stderr).toMatch(/^error: Invalid input: .*email must be a valid email address/)
  })

  it("fails on an unknown id and on a duplicate email", async () => {
    const unknown = await run("users", "delete", "7a1f0c4e-0000-4000-8000-000000000000")
    expect(unknown).toMatchObject({
      exitCode: 1,
      stderr: "error: No user with id 7a1f0c4e-0000-4000-8000-000000000000"
    })
    await run("users", "add", ...ada, "--email", "twice@example.com")
    const again = await run("users", "add", ...ada, "--email", "twice@example.com")
    expect(again).toMatchObject({ exitCode: 1, stderr: "error: A user with email twice@example.com already exists" })
  })

  it("rejects bad usage with exit code 2", async () => {
    const usage = await run("users", "add", "--email", "x@example.com")
    expect(usage.exitCode).toBe(2)
  })
})

describe("birthday stats and cluster status", () => {
  it("prints ledger counts as JSON and as a table", async () => {
    await run("users", "add", ...ada, "--email", "stats@example.com")
    const stats = await run("stats", "--json")
    expect(stats.exitCode).toBe(0)
    const parsed = json(stats.stdout)
    expect(parsed.states.pending).toBeGreaterThanOrEqual(1)
    expect(parsed.lateness).toMatchObject({ windowSeconds: 3600, samples: 0, p50Ms: null })
    expect(parsed.pendingBacklog).toBe(0)
    expect((await run("stats")).stdout).toMatch(/pending\s+\d+/)
  })

  it("prints runners and slice ownership", async () => {
    const status = await run("cluster", "status", "--json")
    expect(status.exitCode).toBe(0)
    const parsed = json(status.stdout)
    expect(parsed.totalSlices).toBeGreaterThan(0)
    expect(Array.isArray(parsed.runners)).toBe(true)
    expect(parsed.breaker.state).toBe("unknown")
    expect((await run("cluster", "status")).stdout).toContain("slices held")
  })

  it("groups slice ownership by runner, including a runner the cluster no longer lists", async () => {
    // What a runner writes: the cluster's own runner table and the slices' ownership rows.
    psql(
      `CREATE TABLE IF NOT EXISTS cluster_runners (machine_id serial PRIMARY KEY, address varchar(255) NOT NULL UNIQUE,
            runner text NOT NULL, healthy boolean NOT NULL DEFAULT true, last_heartbeat timestamp NOT NULL DEFAULT now())`
    )
    psql(`INSERT INTO cluster_runners (address, runner) VALUES ('10.0.0.1:34431', '{}')`)
    psql(`INSERT INTO slice_ownership (slice, runner, since, resident, updated_at) VALUES
            (0, '10.0.0.1:34431', now(), 5, now()), (1, '10.0.0.1:34431', now(), 7, now()),
            (2, '10.0.0.1:34431', now(), 1, now()), (9, '10.0.0.2:34431', now(), 3, now())`)
    const parsed = json((await run("cluster", "status", "--json")).stdout)
    expect(parsed.runners).toEqual([
      expect.objectContaining({ address: "10.0.0.1:34431", healthy: true, slices: [0, 1, 2], residentOccurrences: 13 })
    ])
    // A runner the cluster no longer lists holds no lease: its slices count as unowned.
    expect(parsed.unownedSlices).toContain(9)
    expect((await run("cluster", "status")).stdout).toMatch(/10\.0\.0\.1:34431\s+yes\s+\S+\s+3\s+13\s+0-2/)
  })

  it("shows the breaker as the runners record it: the worst live state, each runner's, stale rows ignored", async () => {
    psql(`INSERT INTO provider_breakers (runner, provider, state, since, updated_at) VALUES
            ('10.0.0.1:34431', 'email', 'closed', now() - interval '1 hour', now()),
            ('10.0.0.2:34431', 'email', 'open', now() - interval '5 seconds', now()),
            ('10.0.0.3:34431', 'email', 'half-open', now() - interval '1 hour', now() - interval '1 minute')`)
    const parsed = json((await run("cluster", "status", "--json")).stdout)
    expect(parsed.breaker.state).toBe("open")
    expect(parsed.breaker.detail).toContain("10.0.0.1:34431 email: closed since")
    expect(parsed.breaker.detail).toContain("10.0.0.2:34431 email: open since")
    expect(parsed.breaker.detail).not.toContain("10.0.0.3")
    expect((await run("cluster", "status")).stdout).toContain("breaker: open (10.0.0.1:34431 email: closed since")
    psql(`UPDATE provider_breakers SET state = 'closed'`)
    expect(json((await run("cluster", "status", "--json")).stdout).breaker.state).toBe("closed")
    psql(`DELETE FROM provider_breakers`)
    expect(json((await run("cluster", "status", "--json")).stdout).breaker.state).toBe("unknown")
  })
})

describe("birthday as a process", () => {
  const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
  const tsx = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url))
  const exec = (args: ReadonlyArray<string>, env: Record<string, string>) =>
    promisify(execFile)(tsx, [main, ...args], { env: { ...process.env, ...env } }).then(
      ({ stderr, stdout }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error
    )

  it("exits 1 with the URL it tried when the server is down", async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const down = await exec(["stats"], { BIRTHDAY_URL: url })
    expect(down.code).toBe(1)
    expect(down.stderr.trim()).toBe(`error: cannot connect to ${url}: connection refused (is the server running?)`)
  })

  it("prints help with examples and exits 0", async () => {
    const help = await exec(["users", "import", "--help"], {})
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("Examples:")
    expect(help.stdout).toContain("birthday users import people.csv")
  })
})

describe("instant options", () => {
  it("take an instant with its zone, and a bare date as midnight UTC, as the help says", async () => {
    for (const from of ["2027-06-01T00:00:00Z", "2027-06-01T02:00:00+02:00", "2027-06-01", "0001-01-01"]) {
      const listed = await run("deliveries", "list", "--from", from, "--to", "9999-12-31T23:59:59Z", "--json")
      expect({ from, exitCode: listed.exitCode, stderr: listed.stderr }).toEqual({ from, exitCode: 0, stderr: "" })
    }
    const help = await run("deliveries", "list", "--help")
    expect(help.stdout.replace(/\s+/g, " ")).toContain("or a date (midnight UTC)")
  })
})

describe("bad options", () => {
  it("are usage errors (exit 2) naming the option, found before any request", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["ledger", "check", "--limit", "-1"], "--limit must be a whole number from 0 to 10000"],
      [["ledger", "check", "--deadline-grace", "-5"], "--deadline-grace must be a whole number of at least 0"],
      [["occurrences", "upcoming", "--hours", "-5"], "--hours must be a whole number from 1 to 8784"],
      [["users", "list", "--limit", "0"], "--limit must be a whole number from 1 to 500"],
      [["occurrences", "upcoming", "--kind", "wedding"], "birthday, anniversary"],
      [["deliveries", "list", "--kind", "wedding"], "birthday, anniversary"],
      // Dates that do not exist, which Date rolls over (2026-02-30 is March 2), are refused.
      [
        ["deliveries", "list", "--from", "2026-02-30T00:00:00Z"],
        "--from 2026-02-30T00:00:00Z does not exist: 2026-02 has no day 30"
      ],
      [["dlq", "list", "--to", "2026-04-31"], "--to 2026-04-31 does not exist: 2026-04 has no day 31"],
      [
        ["deliveries", "list", "--to", "2026-01-01T24:00:00Z"],
        "--to 2026-01-01T24:00:00Z does not exist: hour must be 00–23"
      ],
      [
        ["dlq", "replay", "--dry-run", "--from", "2025-02-29T10:00:00+01:00"],
        "--from 2025-02-29T10:00:00+01:00 does not exist: 2025-02 has no day 29"
      ],
      // Years the API does not take (0001–9999) were a schema dump and exit 1 from the server.
      [["deliveries", "list", "--from", "0000-01-01T00:00:00Z"], "--from 0000-01-01T00:00:00Z must be between years"],
      [["deliveries", "list", "--from", "-271821-04-20T00:00:00Z"], "--from -271821-04-20T00:00:00Z must be an ISO"],
      [["dlq", "list", "--to", "+275760-09-13T00:00:00Z"], "--to +275760-09-13T00:00:00Z must be an ISO 8601"],
      [["deliveries", "list", "--to", "9999-12-31T23:59:59-01:00"], "must be between years 0001 and 9999"],
      // A time without a zone is the host's local time to Date: refused, as the server does.
      [["deliveries", "list", "--from", "2027-06-01T00:00:00"], "--from 2027-06-01T00:00:00 must be an ISO 8601"],
      [["dlq", "replay", "--dry-run", "--to", "June 1 2027"], "--to June 1 2027 must be an ISO 8601 instant"],
      // An ESC typed into the value is shown escaped, never sent to the terminal.
      [["deliveries", "list", "--from", "\u001b[2J2027"], "--from \\u001b[2J2027 must be an ISO 8601"]
    ]
    for (const [args, reason] of cases) {
      const result = await run(...args)
      const output = `${result.stdout}\n${result.stderr}`
      expect({ args, exitCode: result.exitCode }).toEqual({ args, exitCode: 2 })
      expect(output, args.join(" ")).toContain(reason)
      expect(output).not.toContain("unexpected response")
      expect(output).not.toContain("Nothing is due")
      // eslint-disable-next-line no-control-regex -- finding control characters is the point
      expect(output, args.join(" ")).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
    }
  })
})
