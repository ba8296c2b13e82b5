/**
 * The shared services of a multi-host lab, each a private instance bound to the bridge address so
 * every host reaches it over its own link: Postgres (the machine's PostgreSQL binaries, a fresh
 * cluster in a lab directory; never the machine's own server), nats-server with JetStream, and
 * the email simulator. All are stopped and removed with the lab.
 */
import { appendFileSync, existsSync, readdirSync } from "node:fs"
import { connect, createServer } from "node:net"
import { fileURLToPath } from "node:url"
import type { HostLab } from "./HostLab.js"
import type { LabProcess } from "./LabProcess.js"
import { sh, waitFor } from "./Shell.js"

export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url))

/** A free TCP port on `address`. */
export const freePortOn = (address: string) =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, address, () => {
      const found = server.address()
      server.close(() =>
        typeof found === "object" && found !== null ? resolve(found.port) : reject(new Error("no port"))
      )
    })
  })

/** Whether something accepts TCP connections on `address:port`. */
export const accepts = (address: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: address, port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const postgresBinaries = (): string => {
  const root = "/usr/lib/postgresql"
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  const found = versions.map((version) => `${root}/${version}/bin`).find((dir) => existsSync(`${dir}/postgres`))
  if (found === undefined) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql")
  return found
}

export interface LabPostgres {
  readonly process: LabProcess
  readonly port: number
  /** `postgres://postgres@<gateway>:<port>/<database>` */
  readonly url: (database: string) => string
}

/**
 * A Postgres cluster of the lab's own (initdb, trust auth, fsync off), listening on the bridge
 * address only. Runs as the `postgres` system user, which the server requires.
 */
export const startPostgres = async (lab: HostLab): Promise<LabPostgres> => {
  const bin = postgresBinaries()
  const data = lab.directory("pg", "postgres")
  const uid = Number(sh("id", "-u", "postgres").trim())
  const gid = Number(sh("id", "-g", "postgres").trim())
  sh(
    "runuser",
    "-u",
    "postgres",
    "--",
    `${bin}/initdb`,
    "-D",
    data,
    "-U",
    "postgres",
    "-A",
    "trust",
    "--no-sync",
    "-E",
    "UTF8"
  )
  // The hosts connect over the lab's /24 (initdb's trust entries cover only local sockets and loopback).
  appendFileSync(`${data}/pg_hba.conf`, `host all all ${lab.gateway}/24 trust\n`)
  const port = await freePortOn(lab.gateway)
  const process = lab.start("postgres", undefined, `${bin}/postgres`, [
    "-D",
    data,
    "-h",
    lab.gateway,
    "-p",
    String(port),
    "-k",
    data,
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=200"
  ], { uid, gid, cwd: data })
  await waitFor("lab Postgres accepts connections", async () => {
    if (!process.running) throw new Error(`lab Postgres exited: ${process.output()}`)
    return accepts(lab.gateway, port)
  }, 30_000)
  return { process, port, url: (database) => `postgres://postgres@${lab.gateway}:${port}/${database}` }
}

export interface LabNats {
  readonly process: LabProcess
  readonly url: string
}

/** nats-server with JetStream on the bridge address, storing in a lab directory. */
export const startNats = async (lab: HostLab): Promise<LabNats> => {
  const port = await freePortOn(lab.gateway)
  const store = lab.directory("nats")
  const process = lab.start("nats", undefined, "nats-server", [
    "-a",
    lab.gateway,
    "-p",
    String(port),
    "-js",
    "-sd",
    store
  ])
  await waitFor("lab NATS accepts connections", async () => {
    if (!process.running) throw new Error(`lab NATS exited: ${process.output()}`)
    return accepts(lab.gateway, port)
  }, 20_000)
  return { process, url: `nats://${lab.gateway}:${port}` }
}

export interface LabSimulator {
  readonly process: LabProcess
  readonly url: string
}

/** The email simulator (packages/email-sim) on the bridge address; `env` sets its `EMAIL_SIM_*` faults. */
export const startSimulator = async (lab: HostLab, env: Record<string, string> = {}): Promise<LabSimulator> => {
  const port = await freePortOn(lab.gateway)
  const process = lab.start("email-sim", undefined, globalThis.process.execPath, [
    "--import",
    "tsx",
    "packages/email-sim/src/main.ts"
  ], {
    cwd: repoRoot,
    env: {
      ...globalThis.process.env,
      EMAIL_SIM_HOST: lab.gateway,
      EMAIL_SIM_PORT: String(port),
      LOG_LEVEL: "WARN",
      ...env
    }
  })
  await waitFor(
    "lab email simulator accepts connections",
    async () => {
      if (!process.running) throw new Error(`lab email simulator exited: ${process.output()}`)
      return accepts(lab.gateway, port)
    },
    60_000,
    200
  )
  return { process, url: `http://${lab.gateway}:${port}` }
}
