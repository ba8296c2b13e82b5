/**
 * One `pnpm start` per data folder and per set of ports, found out before anything starts: a
 * second one used to reuse the first one's Postgres and NATS, print the whole banner, and only
 * then fail when its server found the API port taken. Now it fails first, in one line saying
 * where the running one is.
 */
import { StartupFailure } from "@birthday/domain"
import { Effect } from "effect"
import { existsSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"

/** A port one of the roles will listen on, and the setting that holds it. */
export interface RolePort {
  readonly setting: string
  readonly host: string
  readonly port: number
}

/** What the lock file says about the `pnpm start` that holds it. */
interface Holder {
  readonly pid: number
  readonly api: string
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

const readHolder = (file: string): Holder | undefined => {
  try {
    const holder = JSON.parse(readFileSync(file, "utf8")) as Partial<Holder>
    return typeof holder.pid === "number" ? { pid: holder.pid, api: String(holder.api ?? "") } : undefined
  } catch {
    return undefined
  }
}

/**
 * Holds `dataDirectory`'s lock (pnpm-start.lock: this process's pid and API address) for the
 * scope; fails when a live `pnpm start` holds it. A lock left by a process that is gone is taken
 * over. A folder made here and still empty at release (the start refused, e.g. a port taken) is
 * removed: a refused start leaves nothing behind.
 */
export const holdDataDirectory = (dataDirectory: string, api: string) =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const made = !existsSync(dataDirectory)
      mkdirSync(dataDirectory, { recursive: true })
      const file = join(dataDirectory, "pnpm-start.lock")
      const claim = () => writeFileSync(file, JSON.stringify({ pid: process.pid, api }), { flag: "wx" })
      try {
        claim()
        return Effect.succeed({ file, made })
      } catch (error) {
        if ((error as { code?: string }).code !== "EEXIST") throw error
      }
      const holder = readHolder(file)
      if (holder !== undefined && holder.pid !== process.pid && alive(holder.pid)) {
        return Effect.fail(
          new StartupFailure({
            problem: `pnpm start is already running from ${dataDirectory} (pid ${holder.pid}, API at ${holder.api})`,
            setting: "LOCAL_DATA_DIR",
            fix: "use that one, stop it (Ctrl-C where it runs), or give this one its own LOCAL_DATA_DIR and ports"
          })
        )
      }
      unlinkSync(file)
      claim()
      return Effect.succeed({ file, made })
    }),
    ({ file, made }) =>
      Effect.sync(() => {
        if (readHolder(file)?.pid === process.pid) unlinkSync(file)
        if (made) {
          try {
            rmdirSync(dataDirectory)
          } catch {
            // Not empty: Postgres or NATS keep their data there.
          }
        }
      })
  )

/** Whether something already listens on `host:port` (binding it fails with EADDRINUSE). */
const taken = ({ host, port }: RolePort) =>
  Effect.async<boolean>((resume) => {
    const server = createServer()
    server.once("error", (error: { code?: string }) => resume(Effect.succeed(error.code === "EADDRINUSE")))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resume(Effect.succeed(false))))
  })

/** Fails, naming the setting, when one of the roles' ports is taken (0, any free port, never is). */
export const checkRolePorts = (ports: ReadonlyArray<RolePort>) =>
  Effect.forEach(ports.filter(({ port }) => port !== 0), (entry) =>
    Effect.flatMap(taken(entry), (isTaken) =>
      isTaken
        ? Effect.fail(
          new StartupFailure({
            problem: `port ${entry.host}:${entry.port} is taken, by another pnpm start or role perhaps`,
            setting: entry.setting,
            fix: `stop what listens there, or set ${entry.setting} (and the other ports) to free ones`
          })
        )
        : Effect.void), { discard: true })
