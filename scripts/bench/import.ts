/**
 * `pnpm bench import [rows]`: users/s importing a generated CSV (default 1,000,000 rows) through
 * the CLI (`birthday users import`, a separate process) into a running API server on a fresh
 * database. Target: 1,000,000 users in under 60 s.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { once } from "node:events"
import { createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const rows = Number(process.argv[3] ?? 1_000_000)
const root = fileURLToPath(new URL("../../", import.meta.url))
const base = new URL(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/birthday")
const database = `birthday_bench_import_${Date.now()}`
const databaseUrl = new URL(base.toString())
databaseUrl.pathname = `/${database}`

const zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo", "UTC"]

const writeCsv = async (path: string) => {
  const out = createWriteStream(path)
  out.write("firstName,lastName,email,birthday,timeZone,anniversary\n")
  for (let i = 0; i < rows; i++) {
    const month = String(1 + (i % 12)).padStart(2, "0")
    const day = String(1 + (i % 28)).padStart(2, "0")
    const anniversary = i % 4 === 0 ? `2010-${month}-${day}` : ""
    const line = `First${i},Last${i},bench${i}@example.com,19${50 + (i % 50)}-${month}-${day},${
      zones[i % zones.length]
    },${anniversary}\n`
    if (!out.write(line)) await once(out, "drain")
  }
  out.end()
  await once(out, "finish")
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

const waitReady = async (url: string, server: ChildProcess) => {
  for (let attempt = 0; attempt < 240; attempt++) {
    if (server.exitCode !== null) throw new Error("the server exited during start")
    const ok = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.ok,
      () => false
    )
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`the server at ${url} did not become ready`)
}

const rssOf = (pid: number) => {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(execFileSync("cat", [`/proc/${pid}/status`]).toString())?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

const dir = mkdtempSync(join(tmpdir(), "birthday-bench-import-"))
const file = join(dir, "users.csv")
let server: ChildProcess | undefined
// Undici leaves its sockets unreferenced; a pending request alone would let Node exit mid-await.
const keepAlive = setInterval(() => undefined, 1_000)
try {
  const generated = performance.now()
  await writeCsv(file)
  console.log(
    `generated ${rows.toLocaleString("en-US")} rows in ${((performance.now() - generated) / 1000).toFixed(1)} s`
  )

  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // `node --import tsx` rather than the tsx binary, so the pid (and its RSS) is the server's own.
  server = spawn(process.execPath, ["--import", "tsx", join(root, "packages/server/src/main.ts")], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl.toString(), HTTP_PORT: String(port) },
    stdio: ["ignore", "ignore", "inherit"],
    detached: false
  })
  await waitReady(url, server)

  const started = performance.now()
  const cli = spawn(process.execPath, [
    "--import",
    "tsx",
    join(root, "packages/cli/src/main.ts"),
    "users",
    "import",
    file,
    "--json"
  ], {
    cwd: root,
    env: { ...process.env, BIRTHDAY_URL: url },
    stdio: ["ignore", "pipe", "inherit"]
  })
  let output = ""
  cli.stdout!.on("data", (chunk) => output += chunk)
  let cliRss = 0
  const sampler = setInterval(() => cliRss = Math.max(cliRss, rssOf(cli.pid!)), 500)
  const [code] = await once(cli, "exit")
  clearInterval(sampler)
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`the CLI exited with ${code}`)
  const summary = JSON.parse(output) as { created: number; skipped: number; rejected: ReadonlyArray<unknown> }
  console.log(
    `import: ${summary.created.toLocaleString("en-US")} created, ${summary.skipped} skipped, ` +
      `${summary.rejected.length} rejected in ${seconds.toFixed(1)} s → ${
        Math.round(rows / seconds).toLocaleString("en-US")
      } users/s ` +
      `(target: 1,000,000 in < 60 s: ${rows >= 1_000_000 ? (seconds < 60 ? "met" : "missed") : "n/a for this size"})`
  )
  console.log(
    `peak RSS: server ${Math.round(rssOf(server.pid!))} MiB, CLI ${
      Math.round(cliRss)
    } MiB (a file of ${rows} rows is streamed, not loaded)`
  )
} finally {
  clearInterval(keepAlive)
  if (server && server.exitCode === null) {
    server.kill("SIGTERM")
    await once(server, "exit")
  }
  rmSync(dir, { recursive: true, force: true })
  try {
    execFileSync("dropdb", [
      "--force",
      "--if-exists",
      "-h",
      base.hostname,
      "-p",
      base.port || "5432",
      "-U",
      base.username || "postgres",
      database
    ])
  } catch (error) {
    console.error(`could not drop ${database}: ${String(error)}`)
  }
}
