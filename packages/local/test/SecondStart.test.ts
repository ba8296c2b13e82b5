/**
 * A second `pnpm start` (same data folder, or ports taken) fails before it starts anything, in one
 * line saying where the running one is (before it prints or loads anything else) or which setting
 * holds the port; a data folder it made is not left behind.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

const listening = () =>
  new Promise<{ server: Server; port: number }>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({ server, port: typeof address === "object" && address ? address.port : 0 })
    })
  })

/** Free ports for every role, a data folder of its own, and nothing that could reach shared services. */
const isolated = async () => {
  const held = await Promise.all([listening(), listening(), listening(), listening()])
  const [http, email, runner, metrics] = held.map(({ port }) => port)
  await Promise.all(held.map(({ server }) => new Promise((resolve) => server.close(resolve))))
  const dataDirectory = mkdtempSync(join(tmpdir(), "birthday-second-start-"))
  return {
    dataDirectory,
    env: {
      LOCAL_DATA_DIR: dataDirectory,
      HTTP_PORT: String(http),
      EMAIL_SIM_PORT: String(email),
      RUNNER_PORT: String(runner),
      RUNNER_METRICS_PORT: String(metrics),
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/birthday_second_start",
      NATS_URL: "nats://127.0.0.1:1",
      LOG_LEVEL: "info"
    }
  }
}

const start = (env: Record<string, string>, command = [process.execPath, "scripts/start.mjs"]) =>
  promisify(execFile)(command[0]!, command.slice(1), {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    timeout: 120_000
  })
    .then(
      ({ stderr, stdout }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ ...error, code: Number(error.code) })
    )
    .then(({ code, stderr, stdout }) => ({ code, stdout, stderr }))

describe("a second pnpm start", () => {
  it(
    "fails at once, before printing anything else, when a running one holds the data folder, saying where it is",
    async () => {
      const { dataDirectory, env } = await isolated()
      try {
        writeFileSync(
          join(dataDirectory, "pnpm-start.lock"),
          JSON.stringify({ pid: process.pid, api: "http://127.0.0.1:8080" })
        )
        expect(await start(env)).toEqual({
          code: 1,
          stdout: "",
          stderr: `birthday-scheduler: pnpm start is already running from ${dataDirectory} (pid ${process.pid}, ` +
            "API at http://127.0.0.1:8080) (LOCAL_DATA_DIR): use that one, stop it (Ctrl-C where it runs), or give " +
            "this one its own LOCAL_DATA_DIR and ports\n"
        })
        // The running one's lock is left alone.
        expect(existsSync(join(dataDirectory, "pnpm-start.lock"))).toBe(true)
      } finally {
        rmSync(dataDirectory, { recursive: true, force: true })
      }
    },
    180_000
  )

  it(
    "fails at once, naming the setting, when a role's port is taken; a lock of a process that is gone is taken over",
    async () => {
      const { dataDirectory, env } = await isolated()
      const taken = await listening()
      try {
        writeFileSync(join(dataDirectory, "pnpm-start.lock"), JSON.stringify({ pid: 2 ** 22 + 1, api: "x" }))
        const line = (setting: string) =>
          `birthday-scheduler: port 127.0.0.1:${taken.port} is taken, by another pnpm start or role perhaps ` +
          `(${setting}): stop what listens there, or set ${setting} (and the other ports) to free ones\n`
        expect(await start({ ...env, HTTP_PORT: String(taken.port) })).toEqual({
          code: 1,
          stdout: "birthday-scheduler: starting…\n",
          stderr: line("HTTP_PORT")
        })
        expect(existsSync(join(dataDirectory, "pnpm-start.lock"))).toBe(false)
        // Through pnpm, quietly (-s): the two lines only.
        expect(await start({ ...env, RUNNER_METRICS_PORT: String(taken.port) }, ["pnpm", "-s", "start"])).toEqual({
          code: 1,
          stdout: "birthday-scheduler: starting…\n",
          stderr: line("RUNNER_METRICS_PORT")
        })
        // A data folder that did not exist is not left behind, empty.
        const fresh = join(dataDirectory, "fresh")
        expect(await start({ ...env, LOCAL_DATA_DIR: fresh, HTTP_PORT: String(taken.port) })).toMatchObject({
          code: 1,
          stderr: line("HTTP_PORT")
        })
        expect(existsSync(fresh)).toBe(false)
      } finally {
        taken.server.close()
        rmSync(dataDirectory, { recursive: true, force: true })
      }
    },
    180_000
  )
})
