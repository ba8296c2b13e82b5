/**
 * The whole system on one machine in one command (`pnpm start`), against local Postgres and NATS.
 * Applies migrations, then runs each role as its own process (output prefixed by role); SIGINT or
 * SIGTERM stops them all, and so does any role exiting on its own.
 */
import { MigrationsLive, PgLive } from "@birthday/ledger/Database"
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { ServerConfig } from "./ServerConfig.js"

/** One process per role; the runner holds the slices and the delivery workers, which send to the simulator. */
const roles: ReadonlyArray<{ readonly name: string; readonly entry: string }> = [
  { name: "email", entry: "packages/email-sim/src/main.ts" },
  { name: "server", entry: "packages/server/src/main.ts" },
  { name: "runner", entry: "packages/runner/src/main.ts" }
]

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const colors = ["\x1b[36m", "\x1b[35m", "\x1b[33m", "\x1b[32m", "\x1b[34m"]

const prefixLines = (name: string, color: string, target: NodeJS.WriteStream) => {
  let buffered = ""
  return (chunk: Buffer) => {
    buffered += String(chunk)
    const lines = buffered.split("\n")
    buffered = lines.pop() ?? ""
    for (const line of lines) target.write(`${color}${name.padEnd(7)}\x1b[0m| ${line}\n`)
  }
}

/** Starts every role; resolves once they run (the process then lives until they stop). */
export const startLocalSystem = Effect.gen(function*() {
  const config = yield* ServerConfig
  console.log("birthday-scheduler: applying migrations…")
  yield* Effect.scoped(Layer.build(MigrationsLive.pipe(Layer.provide(PgLive))))
  console.log("birthday-scheduler: migrations applied; starting", roles.map((role) => role.name).join(", "))

  const children: Array<ChildProcess> = []
  let stopping = false
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    console.log(`birthday-scheduler: stopping (${signal})…`)
    for (const child of children) if (child.exitCode === null) child.kill(signal)
  }
  roles.forEach((role, index) => {
    const child = spawn(process.execPath, ["--import", "tsx", role.entry], {
      cwd: repoRoot,
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const color = colors[index % colors.length]!
    child.stdout!.on("data", prefixLines(role.name, color, process.stdout))
    child.stderr!.on("data", prefixLines(role.name, color, process.stderr))
    child.on("exit", (code, signal) => {
      console.log(`birthday-scheduler: ${role.name} exited (${signal ?? code})`)
      stopAll("SIGTERM")
      if (children.every((other) => other.exitCode !== null || other.signalCode !== null)) {
        process.exit(stopping && (code === 0 || signal !== null) ? 0 : 1)
      }
    })
    children.push(child)
  })
  process.on("SIGINT", () => stopAll("SIGINT"))
  process.on("SIGTERM", () => stopAll("SIGTERM"))

  const base = `http://${config.httpHost}:${config.httpPort}`
  console.log([
    "",
    `  API      ${base}`,
    `  Docs     ${base}/docs`,
    `  OpenAPI  ${base}/openapi.json`,
    `  Health   ${base}/health/ready`,
    "  Email    http://127.0.0.1:8025/messages (the simulator: greetings that arrived)",
    "  Metrics  http://127.0.0.1:9464/metrics (runner; its health: /health/ready)",
    "  Stop     Ctrl-C",
    ""
  ].join("\n"))
})

/** Runs `startLocalSystem`, exiting with a readable message when it cannot start. */
export const runLocalSystem = (): void => {
  Effect.runPromise(startLocalSystem).catch((error: unknown) => {
    console.error("birthday-scheduler: cannot start:", error)
    process.exit(1)
  })
}
