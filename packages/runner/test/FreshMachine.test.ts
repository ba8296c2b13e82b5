import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** Whether this machine can make an empty network namespace (`unshare -n`, as root or with user namespaces). */
const unshareWorks = spawnSync("unshare", ["-n", "sh", "-c", "ip link set lo up"], { stdio: "ignore" }).status === 0

/** Runs `command` in a new, empty network namespace with only `lo` up: nothing answers on 5432 or 4222. */
const inEmptyNetwork = (command: string, timeoutMs: number) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = execFile(
      "unshare",
      ["-n", "sh", "-c", `ip link set lo up && ${command}`],
      { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: "SIGKILL" },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** A probe's result: the JSON object on the last line it printed. */
const lastJsonLine = (stdout: string): unknown => JSON.parse(stdout.trim().split("\n").pop() || "{}")

if (!unshareWorks) {
  console.log("FreshMachine: SKIPPED — `unshare -n` is not available here (needs root or user namespaces)")
}

it.live.skipIf(!unshareWorks)(
  "a fresh machine: pnpm start in an empty network starts its own Postgres and NATS, is ready, and a greeting due a minute ahead arrives; Ctrl-C exits 0",
  () =>
    Effect.gen(function*() {
      const run = yield* inEmptyNetwork(
        "exec node --import tsx packages/runner/test/fixtures/FreshMachineProbe.ts",
        6 * 60_000
      )
      const result = lastJsonLine(run.stdout) as Record<string, any>
      const { output, ...figures } = result
      console.log("fresh machine:", JSON.stringify(figures))
      const context = `${String(output)}\n${run.stderr}`
      expect(result.error, context).toBeUndefined()
      expect(result.embeddedPostgres, context).toBe(true)
      expect(result.embeddedNats, context).toBe(true)
      expect(String(output)).toMatch(/Postgres +postgres:\/\/postgres@127\.0\.0\.1:5432\/birthday \(started here/)
      expect(String(output)).toMatch(/NATS +nats:\/\/127\.0\.0\.1:4222 \(started here/)
      expect(result.createStatus).toBe(201)
      expect(result.scheduledDueAt).toBe(result.expectedDueAt)
      expect(result.greeting.message).toContain("Fresh")
      expect(result.greetingMs).toBeGreaterThanOrEqual(result.dueAtMs)
      // Ctrl-C: exit 0 and no pnpm ELIFECYCLE line.
      expect(result.exitCode, context).toBe(0)
      expect(String(output)).not.toContain("ELIFECYCLE")
    }),
  { timeout: 7 * 60_000 }
)

it.live.skipIf(!unshareWorks)(
  "a fresh machine: the test command's setup starts its own Postgres and NATS, and suites pass against them",
  () =>
    Effect.gen(function*() {
      const run = yield* inEmptyNetwork(
        "exec pnpm test packages/domain/test/smoke.test.ts packages/server/test/Users.test.ts packages/runner/test/RunnerOperations.test.ts",
        6 * 60_000
      )
      // eslint-disable-next-line no-control-regex
      const stdout = run.stdout.replace(/\x1b\[[0-9;]*m/g, "")
      const context = `${stdout}\n${run.stderr}`
      expect(stdout, context).toContain(
        "test infrastructure: started Postgres on postgres://postgres@127.0.0.1:5432"
      )
      expect(stdout, context).toContain("NATS on nats://127.0.0.1:4222")
      expect(stdout, context).toMatch(/Test Files +3 passed \(3\)/)
      expect(run.code, context).toBe(0)
    }),
  { timeout: 7 * 60_000 }
)

it.live.skipIf(!unshareWorks)(
  "a fresh machine: when the test run is stopped without its teardown, the Postgres and NATS its setup started stop",
  () =>
    Effect.gen(function*() {
      const run = yield* inEmptyNetwork(
        "exec node --import tsx packages/runner/test/fixtures/OrphanedSetupProbe.ts",
        4 * 60_000
      )
      const result = lastJsonLine(run.stdout) as Record<string, unknown>
      const context = `${run.stdout}\n${run.stderr}`
      expect(result, context).toEqual({
        startedPostgres: true,
        startedNats: true,
        postgresAfter: false,
        natsAfter: false
      })
    }),
  { timeout: 5 * 60_000 }
)

it.live.skipIf(!unshareWorks)(
  "a fresh machine: Ctrl-C at any moment of pnpm start's start-up exits 0 and stops the Postgres and NATS it started",
  () =>
    Effect.gen(function*() {
      const run = yield* inEmptyNetwork(
        "exec node --import tsx packages/runner/test/fixtures/StartInterruptProbe.ts",
        6 * 60_000
      )
      const result = lastJsonLine(run.stdout) as {
        runs?: ReadonlyArray<Record<string, any>>
        error?: string
      }
      const context = `${run.stdout}\n${run.stderr}`
      expect(result.error, context).toBeUndefined()
      console.log(
        "Ctrl-C during start-up:",
        JSON.stringify(result.runs?.map(({ output: _, ...figures }) => figures))
      )
      expect(result.runs?.map((each) => each.moment)).toEqual([
        "loading the sources",
        "initdb",
        "Postgres answers",
        "migrations"
      ])
      for (const each of result.runs!) {
        const about = `${each.moment}:\n${each.output}`
        expect(each.exitedBeforeSignal, about).toBe(false)
        expect(each.exitCode, about).toBe(0)
        expect(each.output, about).not.toContain("ELIFECYCLE")
        expect({ postgres: each.postgresAnswers, nats: each.natsAnswers, processes: each.leftovers }, about)
          .toEqual({ postgres: false, nats: false, processes: 0 })
      }
    }),
  { timeout: 7 * 60_000 }
)
