/**
 * Every command the README shows, run as written: the shell commands of its code blocks and the
 * commands of its Development table. A command with no check here fails the suite, so a new one
 * must say how it is proven. Deviations, each forced by the shared machine: ports and the database
 * are the run's own (never the defaults another process may hold), `npm install -g pnpm@10` runs
 * with `--dry-run` (it must not swap the machine's pnpm under other runs), `pnpm test` is given one
 * small suite (the whole suite would run itself), `pnpm check`/`pnpm lint` are shown to run tsc
 * and ESLint (.ci/run runs them in full), and `bash .ci/run` is checked for calling the README's
 * test command (it runs this suite).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "../../server/test/support/TestServer.js"
import { testRun } from "./support/DeliveryHarness.js"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const readme = readFileSync(join(repoRoot, "README.md"), "utf8")

/** The shell commands of the README's bash code blocks (continuations joined, comments dropped). */
const blockCommands = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].flatMap((block) =>
  block[1]!.replace(/\\\n\s*/g, "").split("\n").map((line) => line.trim()).filter((line) =>
    line.length > 0 && !line.startsWith("#")
  )
)

/** The commands of the Development table's first column (`a` / `b` are two). */
const tableCommands = readme.slice(readme.indexOf("## Development")).split("\n")
  .filter((line) => line.startsWith("| `"))
  .flatMap((line) => line.split("|")[1]!.split(" / ").map((cell) => cell.trim().replace(/^`|`$/g, "")))

const allCommands = [...new Set([...blockCommands, ...tableCommands])]

interface Finished {
  readonly code: number | null
  readonly output: string
}

/** Leading `NAME=value` assignments of a command, and the rest. */
const splitEnv = (command: string) => {
  const env: Record<string, string> = {}
  let rest = command
  for (;;) {
    const match = /^([A-Z_][A-Z0-9_]*)=(\S*)\s+/.exec(rest)
    if (!match) return { env, rest }
    env[match[1]!] = match[2]!
    rest = rest.slice(match[0].length)
  }
}

/**
 * Runs `command` in the repository as a user types it, with `env` added: a simple command (leading
 * `NAME=value`s, then words) directly, as an interactive shell does; anything else with `sh -c`
 * (whose non-interactive `sh` would die of a Ctrl-C itself).
 */
const shell = (command: string, env: Record<string, string> = {}) => {
  const simple = !/[&|;()<>$`"'\\]/.test(command)
  const { env: assigned, rest } = splitEnv(command)
  const [program, ...args] = simple ? rest.split(/\s+/) : ["sh", "-c", command]
  const child = spawn(program!, args, {
    cwd: repoRoot,
    env: { ...process.env, ...(simple ? assigned : {}), ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += String(chunk)))
  child.stderr.on("data", (chunk: Buffer) => (output += String(chunk)))
  const finished = new Promise<Finished>((resolve) => child.once("exit", (code) => resolve({ code, output })))
  let done = false
  void finished.then(() => (done = true))
  return {
    output: () => output,
    finished,
    kill: () => {
      if (!done) process.kill(-child.pid!, "SIGKILL")
    },
    /** Ctrl-C in a terminal: SIGINT to the whole process group; then its exit. */
    interrupt: async (): Promise<Finished> => {
      try {
        process.kill(-child.pid!, "SIGINT")
      } catch {
        // already gone
      }
      const killer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 60_000)
      const result = await finished
      clearTimeout(killer)
      return result
    }
  }
}

const run = (command: string, env: Record<string, string> = {}) => shell(command, env).finished

/** A long-running command, killed with its process group if the test ends before it exits. */
const started = (command: string, env: Record<string, string>) =>
  Effect.acquireRelease(Effect.sync(() => shell(command, env)), (handle) => Effect.sync(() => handle.kill()))

/** Polls `url` until it answers 200, failing with the process output if `process` exits first. */
const answers200 = async (url: string, handle: ReturnType<typeof shell>, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void handle.finished.then(() => (exited = true))
  while (Date.now() < deadline && !exited) {
    const status = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0)
    if (status === 200) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${url} did not answer 200 ${exited ? "(the process exited)" : "in time"}:\n${handle.output()}`)
}

/** The run's own database, stream names and ports for the system's processes. */
const isolated = Effect.gen(function*() {
  const db = yield* testRun
  const [http, email, runner, metrics] = [yield* freePort, yield* freePort, yield* freePort, yield* freePort]
  return {
    env: {
      ...db.env,
      HTTP_PORT: String(http),
      EMAIL_SIM_PORT: String(email),
      EMAIL_SERVICE_URL: `http://127.0.0.1:${email}`,
      RUNNER_PORT: String(runner),
      RUNNER_METRICS_PORT: String(metrics),
      BIRTHDAY_URL: `http://127.0.0.1:${http}`,
      LOG_LEVEL: "warn"
    },
    api: `http://127.0.0.1:${http}`,
    email: `http://127.0.0.1:${email}`,
    metrics: `http://127.0.0.1:${metrics}`
  }
})

const noLifecycleError = (result: Finished) => {
  expect(result.code, result.output).toBe(0)
  expect(result.output).not.toContain("ELIFECYCLE")
}

/** The quick start's first step: nats-server from apt when it is missing, through sudo when there is one. */
const natsStep =
  "(command -v nats-server >/dev/null || $(command -v sudo) sh -c 'apt-get update && apt-get install -y nats-server')"
const quickStart = new RegExp(
  `^${
    natsStep.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  } && (npm install -g pnpm@10) && (pnpm install --frozen-lockfile) && pnpm (start|test)$`
)
const examples = blockCommands.filter((command) => command.startsWith("pnpm birthday "))

/** How each command is proven; every README command must match one. */
const checks: ReadonlyArray<{ readonly pattern: RegExp; readonly name: string }> = [
  { pattern: quickStart, name: "quick start: the install steps" },
  { pattern: /^pnpm start$/, name: "pnpm start" },
  { pattern: /^pnpm birthday /, name: "pnpm start" },
  { pattern: /^pnpm birthday <args>$/, name: "pnpm birthday --help" },
  { pattern: /^packages\/cli\/dist\/birthday\.cjs <args>$/, name: "pnpm birthday --help" },
  { pattern: /^pnpm test$/, name: "pnpm test" },
  { pattern: /^pnpm (api|email-sim)$/, name: "pnpm api, pnpm email-sim" },
  { pattern: /^(\S+=\S+ )*pnpm runner$/, name: "pnpm runner" },
  { pattern: /^pnpm (check|lint)$/, name: "pnpm check, pnpm lint" },
  { pattern: /^pnpm bench <suite>$/, name: "pnpm bench" },
  { pattern: /^bash \.ci\/run$/, name: "bash .ci/run" },
  { pattern: /^pnpm openapi (lint|client)$/, name: "pnpm openapi lint, pnpm openapi client" },
  { pattern: /^pnpm test:hosts$/, name: "pnpm test:hosts" },
  { pattern: /^pnpm soak$/, name: "pnpm soak" }
]

describe("README commands", () => {
  it("every command of the README's code blocks and Development table has a check here", () => {
    expect(allCommands.length).toBeGreaterThan(10)
    expect(allCommands.filter((command) => !checks.some((check) => check.pattern.test(command)))).toEqual([])
    // pnpm's own commands shadow scripts of the same name (`pnpm server` manages pnpm's store server).
    expect(allCommands.filter((command) => /^pnpm server\b/.test(command))).toEqual([])
  })

  it("quick start: the install steps of both commands work as written", async () => {
    const steps = blockCommands.filter((command) => quickStart.test(command))
    expect(steps.map((command) => quickStart.exec(command)![3])).toEqual(["start", "test"])
    expect(await run(natsStep).then((r) => r.code)).toBe(0)
    const npm = await run("npm install -g --dry-run pnpm@10")
    expect(npm.code, npm.output).toBe(0)
    const install = await run("pnpm install --frozen-lockfile")
    expect(install.code, install.output).toBe(0)
    // The install builds the CLI bundle that `pnpm birthday` runs.
    expect(existsSync(join(repoRoot, "packages/cli/dist/birthday.cjs"))).toBe(true)
  }, 300_000)

  it("quick start: the NATS step runs apt-get as root without sudo, through sudo as a user, not at all when installed", async () => {
    const root = mkdtempSync(join(tmpdir(), "birthday-quickstart-"))
    const log = join(root, "calls.log")
    /** A folder for PATH holding `sh` and stubs of `names` that log their calls. */
    const bin = (name: string, stubs: Record<string, string>) => {
      const folder = join(root, name)
      mkdirSync(folder)
      symlinkSync("/bin/sh", join(folder, "sh"))
      for (const [stub, body] of Object.entries(stubs)) {
        writeFileSync(join(folder, stub), `#!/bin/sh\necho "${stub} $*" >> ${log}\n${body}\n`, { mode: 0o755 })
      }
      return folder
    }
    const calls = async (path: string) => {
      writeFileSync(log, "")
      const result = await run(natsStep, { PATH: path })
      return { code: result.code, calls: readFileSync(log, "utf8").trim().split("\n").filter((line) => line !== "") }
    }
    try {
      expect(await calls(bin("root", { "apt-get": "" }))).toEqual({
        code: 0,
        calls: ["apt-get update", "apt-get install -y nats-server"]
      })
      expect(await calls(bin("user", { "apt-get": "", sudo: "exec \"$@\"" }))).toEqual({
        code: 0,
        calls: [
          "sudo sh -c apt-get update && apt-get install -y nats-server",
          "apt-get update",
          "apt-get install -y nats-server"
        ]
      })
      expect(await calls(bin("installed", { "apt-get": "", "nats-server": "" }))).toEqual({ code: 0, calls: [] })
      // A failed install fails the command (and so the && chain).
      expect((await calls(bin("offline", { "apt-get": "exit 100" }))).code).toBe(100)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it.live(
    "pnpm start: the system becomes ready, the README's CLI examples work against it, a second one fails at once, Ctrl-C exits 0",
    () =>
      Effect.gen(function*() {
        const own = yield* isolated
        const system = yield* started("pnpm start", own.env)
        yield* Effect.promise(() => answers200(`${own.api}/health/ready`, system))
        yield* Effect.promise(() => answers200(`${own.email}/messages`, system))
        yield* Effect.promise(() => answers200(`${own.metrics}/health/ready`, system))
        expect(system.output()).toContain(`API       ${own.api}`)
        expect(examples.length).toBeGreaterThan(1)
        for (const command of examples) {
          const result = yield* Effect.promise(() => run(command, own.env))
          expect(result.code, `${command}\n${result.output}`).toBe(0)
          noLifecycleError(result)
        }
        const users = yield* Effect.promise(() =>
          fetch(`${own.api}/users`).then((r) => r.json() as Promise<{ items: Array<{ email: string }> }>)
        )
        expect(users.items.map((user) => user.email)).toContain("ada@example.com")
        // A second one fails at once, saying where the running one is, before any banner.
        const second = yield* Effect.promise(() => run("pnpm start", own.env))
        expect(second.code, second.output).toBe(1)
        expect(second.output).toMatch(
          new RegExp(`pnpm start is already running from \\S+ \\(pid \\d+, API at ${own.api}\\)`)
        )
        expect(second.output).not.toContain("API       ")
        noLifecycleError(yield* Effect.promise(() => system.interrupt()))
      }).pipe(Effect.scoped),
    { timeout: 300_000 }
  )

  it("pnpm birthday --help prints the commands, as does the bin run directly", async () => {
    for (const command of ["pnpm birthday --help", "packages/cli/dist/birthday.cjs --help"]) {
      const result = await run(command)
      noLifecycleError(result)
      for (const name of ["users", "occurrences", "deliveries", "cluster", "stats"]) {
        expect(result.output).toContain(name)
      }
    }
  }, 60_000)

  it("pnpm test runs vitest (one small suite here)", async () => {
    const result = await run("pnpm test packages/domain/test/smoke.test.ts")
    noLifecycleError(result)
    // eslint-disable-next-line no-control-regex
    expect(result.output.replace(/\x1b\[[0-9;]*m/g, "")).toMatch(/Test Files +1 passed/)
  }, 120_000)

  it.live("pnpm api and pnpm email-sim serve, and exit 0 on Ctrl-C", () =>
    Effect.gen(function*() {
      const own = yield* isolated
      const api = yield* started("pnpm api", own.env)
      const email = yield* started("pnpm email-sim", own.env)
      yield* Effect.promise(() => answers200(`${own.api}/health/ready`, api))
      yield* Effect.promise(() => answers200(`${own.email}/messages`, email))
      noLifecycleError(yield* Effect.promise(() => api.interrupt()))
      noLifecycleError(yield* Effect.promise(() => email.interrupt()))
    }).pipe(Effect.scoped), { timeout: 300_000 })

  it.live(
    "pnpm runner (as the README runs a second one, with its own ports) is ready, and exits 0 on Ctrl-C",
    () =>
      Effect.gen(function*() {
        const own = yield* isolated
        for (const command of allCommands.filter((each) => /pnpm runner$/.test(each))) {
          // The README's example ports give way to free ones (own.env wins): this machine is shared.
          const { env, rest } = splitEnv(command)
          const ports = Object.fromEntries(
            Object.keys(env).map((name) => [name, own.env[name as keyof typeof own.env]])
          )
          const runner = shell(rest, { ...own.env, ...ports })
          yield* Effect.promise(() => answers200(`${own.metrics}/health/ready`, runner))
          noLifecycleError(yield* Effect.promise(() => runner.interrupt()))
        }
      }).pipe(Effect.scoped),
    { timeout: 300_000 }
  )

  // .ci/run runs both in full right before the test command; here: they are the scripts (tsc and
  // ESLint), not pnpm built-ins, at a fraction of the cost (a full type check and lint took minutes
  // of this suite on a loaded machine).
  it("pnpm openapi lint and pnpm openapi client", async () => {
    const lint = await run("pnpm openapi lint")
    expect(lint.code, lint.output).toBe(0)
    const client = await run("pnpm openapi client")
    expect(client.code, client.output).toBe(0)
    expect(client.output).toContain("BirthdayApiClient.ts")
  })

  it("pnpm test:hosts is the multi-host suite that .ci/run runs (it needs root and network namespaces)", () => {
    const ci = readFileSync(join(repoRoot, ".ci/run"), "utf8")
    expect(ci).toContain("pnpm test:hosts")
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }
    expect(pkg.scripts["test:hosts"]).toContain("vitest.hosts.config.ts")
  })

  it("pnpm soak is the chaos suite, whose short form .ci/run runs", () => {
    const ci = readFileSync(join(repoRoot, ".ci/run"), "utf8")
    expect(ci).toMatch(/CHAOS_SCENARIOS=\S+ CHAOS_USERS=\d+ pnpm soak/)
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }
    expect(pkg.scripts.soak).toContain("vitest.chaos.config.ts")
  })

  it("pnpm check and pnpm lint run tsc and ESLint", async () => {
    const check = await run("pnpm check --version")
    noLifecycleError(check)
    expect(check.output).toMatch(/Version \d+\.\d+/)
    const lint = await run("pnpm lint --version")
    noLifecycleError(lint)
    expect(lint.output).toMatch(/v\d+\.\d+\.\d+/)
    const ci = readFileSync(join(repoRoot, ".ci/run"), "utf8").split("\n")
    expect(ci).toContain("pnpm check")
    expect(ci).toContain("pnpm lint")
  }, 120_000)

  it("pnpm bench without a suite names the suites the README lists", async () => {
    const result = await run("pnpm bench")
    expect(result.code).not.toBe(0)
    const row = readme.split("\n").find((line) => line.startsWith("| `pnpm bench <suite>`"))!
    const suites = [...row.split("|")[2]!.matchAll(/`([^`]+)`/g)].map((match) => match[1]!)
    expect(suites.length).toBeGreaterThan(3)
    for (const suite of suites) expect(result.output).toContain(suite)
  }, 60_000)

  it("bash .ci/run runs the README's test command", () => {
    const ci = readFileSync(join(repoRoot, ".ci/run"), "utf8")
    const testCommand = blockCommands.find((command) => command.endsWith("pnpm test"))!
    expect(ci.split("\n")).toContain(testCommand)
  })
})
