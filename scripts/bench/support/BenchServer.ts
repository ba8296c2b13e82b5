/**
 * Starts the API server as its own process on a fresh database for a benchmark, and removes
 * both afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import pg from "pg"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres"

export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

const admin = async (sql: string) => {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export interface BenchServer {
  readonly baseUrl: string
  readonly databaseUrl: string
  readonly process: ChildProcess
  readonly stop: () => Promise<void>
}

/** Spawns `packages/server/src/main.ts` with `env` on a new database and waits until it is ready. */
export const startBenchServer = async (env: Record<string, string> = {}): Promise<BenchServer> => {
  const database = `birthday_bench_${randomBytes(4).toString("hex")}`
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${database}`
  const port = await freePort()
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server there when it exits.
  const profile = process.env["BENCH_CPU_PROF"] ? ["--cpu-prof", "--cpu-prof-dir", process.env["BENCH_CPU_PROF"]] : []
  const child = spawn(process.execPath, [...profile, "--import", "tsx", "packages/server/src/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl, HTTP_PORT: String(port), LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "inherit", "inherit"]
  })
  const baseUrl = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 120_000
  for (;;) {
    try {
      const response = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(1000) })
      if (response.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("bench server did not become ready")
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return {
    baseUrl,
    databaseUrl,
    process: child,
    stop: async () => {
      child.kill("SIGTERM")
      await new Promise((resolve) => child.exitCode !== null ? resolve(null) : child.once("exit", resolve))
      await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
    }
  }
}

/** Spawns the bare node:http + pg reference server (BareServer.ts) on `databaseUrl` (already migrated). */
export const startBareServer = async (databaseUrl: string): Promise<{ baseUrl: string; stop: () => Promise<void> }> => {
  const port = await freePort()
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/bench/support/BareServer.ts"], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl, HTTP_PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve())
    child.once("exit", () => reject(new Error("bare server exited")))
  })
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM")
      await new Promise((resolve) => child.exitCode !== null ? resolve(null) : child.once("exit", resolve))
    }
  }
}

/** The q-quantile of sorted samples. */
export const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
