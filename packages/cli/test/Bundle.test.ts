import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { cli, freePort, useServer } from "./TestServer.js"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const dist = mkdtempSync(join(tmpdir(), "birthday-cli-bundle-"))
const bin = join(dist, "birthday.cjs")
const cacheFile = join(dist, "cli.cjs.cache")
const server = useServer()

const node = (args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, args, { cwd: repoRoot }).then(
    ({ stderr, stdout }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ ...error, code: Number(error.code) })
  )
const birthday = (...args: ReadonlyArray<string>) => node([bin, ...args])

/** The bundle's modules reached from main.ts by static imports: what every start evaluates. */
const evaluatedAtStart = () => {
  const { inputs } = JSON.parse(readFileSync(join(dist, "meta.json"), "utf8")) as {
    inputs: Record<string, { imports: Array<{ path: string; kind: string }> }>
  }
  const reached = new Set<string>()
  const visit = (path: string) => {
    if (reached.has(path) || inputs[path] === undefined) return
    reached.add(path)
    for (const imported of inputs[path].imports) if (imported.kind !== "dynamic-import") visit(imported.path)
  }
  visit("packages/cli/src/main.ts")
  return { reached: [...reached], all: Object.keys(inputs) }
}

describe("the bundled birthday CLI", () => {
  it("builds into a folder of its own", async () => {
    const build = await node(["scripts/build.mjs", dist])
    expect(build.code, build.stderr).toBe(0)
    expect(statSync(bin).mode & 0o111).not.toBe(0)
  }, 180_000)

  it("evaluates the command tree at start, and the API client, schemas and HTTP code only in a command", () => {
    const { all, reached } = evaluatedAtStart()
    // In the bundle, but behind the actions' import():
    expect(all.some((path) => path.endsWith("packages/domain/src/Api.ts"))).toBe(true)
    expect(all.some((path) => path.endsWith("packages/cli/src/UsersActions.ts"))).toBe(true)
    expect(reached.filter((path) => /\/(?!Command)\w+Actions\.ts$|cli\/src\/ApiClient\.ts$/.test(path))).toEqual([])
    // Module paths, not package indexes (an index evaluates every module of its package).
    expect(reached.filter((path) => /HttpApi|undici|@opentelemetry|@effect\/sql|\/dist\/esm\/index\.js$/.test(path)))
      .toEqual([])
    // Of the domain, only what option definitions name (the ledger states, the import row limit,
    // the occasion kinds --kind accepts, the date fields --from/--to check).
    expect(reached.filter((path) => path.includes("packages/domain/")).sort()).toEqual([
      "packages/domain/src/BulkImportLimits.ts",
      "packages/domain/src/CalendarFields.ts",
      "packages/domain/src/LedgerState.ts",
      "packages/domain/src/OccasionKind.ts"
    ])
  })

  it("leaves out what no command runs", () => {
    const { all } = evaluatedAtStart()
    // The runner's entity (and @effect/cluster, @effect/rpc, msgpackr with it): the CLI imports the
    // domain modules it needs by path, not the domain's index.
    expect(
      all.filter((path) => /\/@effect\/(cluster|rpc)\/|\/msgpackr\/|domain\/src\/(index|SliceEntity)\.ts/.test(path))
    )
      .toEqual([])
    // Replaced by modules that throw (scripts/build.mjs says why no command reaches them).
    const leftOut = all.filter((path) => /\/node_modules\/(yaml|toml|ini|fast-check)\//.test(path))
    expect(leftOut).toHaveLength(4)
    expect(leftOut.filter((path) => !path.startsWith("left-out:"))).toEqual([])
  })

  it("leaves no optimizing compile for Node to wait for at exit", async () => {
    const traced = await node(["--trace-opt", bin, "--help"])
    expect(traced.code).toBe(0)
    expect(traced.stdout).toContain("birthday 0.1.0")
    expect(traced.stdout).not.toContain("TURBOFAN")
  })

  it("prints the same help as the sources", async () => {
    for (const args of [["--help"], ["users", "add", "--help"], ["deliveries", "list", "--help"]]) {
      const bundled = await birthday(...args)
      const sources = await cli(server.url, ...args)
      expect(bundled.code).toBe(0)
      expect(bundled.stdout.trimEnd()).toBe(sources.stdout.trimEnd())
    }
  })

  it("runs a command against the API, and fails in one line when there is none", async () => {
    const added = await birthday(
      ...["users", "add", "--url", server.url, "--first-name", "Ada", "--last-name", "Lovelace"],
      ...["--email", "ada.bundle@example.com", "--birthday", "1985-12-10", "--time-zone", "Europe/London", "--json"]
    )
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({ firstName: "Ada", email: "ada.bundle@example.com" })

    const closed = `http://127.0.0.1:${await freePort()}`
    const refused = await birthday("users", "list", "--url", closed)
    expect(refused).toMatchObject({
      code: 1,
      stdout: "",
      stderr: `error: cannot connect to ${closed}: connection refused (is the server running?)\n`
    })
  })

  it("keeps V8's code cache: written when missing, rewritten when the bundle changed or V8 rejects it", async () => {
    const key = () => {
      const { mtimeMs, size } = statSync(join(dist, "cli.cjs"))
      return `${size}:${mtimeMs}\n`
    }
    const cachedKey = () => readFileSync(cacheFile).subarray(0, Buffer.byteLength(key())).toString()

    rmSync(cacheFile)
    expect((await birthday("--help")).code).toBe(0)
    expect(cachedKey()).toBe(key())

    const later = new Date(Date.now() + 60_000)
    utimesSync(join(dist, "cli.cjs"), later, later)
    expect((await birthday("--help")).code).toBe(0)
    expect(cachedKey()).toBe(key())

    writeFileSync(cacheFile, Buffer.concat([Buffer.from(key()), Buffer.from("not a code cache")]))
    const rejected = await birthday("--help")
    expect(rejected.code).toBe(0)
    expect(rejected.stdout).toContain("birthday 0.1.0")
    expect(statSync(cacheFile).size).toBeGreaterThan(100_000)
  })
})
