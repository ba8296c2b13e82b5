/**
 * `pnpm start`: migrations, API server and runner on this machine (see LocalSystem). Plain JS, so
 * that a Ctrl-C is handled from the first moment: loading the TypeScript sources takes seconds, and
 * a signal then must still exit 0 (nothing has started yet, so there is nothing to stop). Once
 * the system runs, it takes signals itself and stops what it started.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * A second `pnpm start` on a data folder a live one holds fails here, before it prints or loads
 * anything (seconds on a busy machine). A read only: LocalInstance takes the lock itself, with the
 * same message, and this mirrors its LOCAL_DATA_DIR default (LocalSystem's config).
 */
const refuseWhenRunning = () => {
  const dataDirectory = process.env.LOCAL_DATA_DIR ?? join(fileURLToPath(new URL("..", import.meta.url)), ".data")
  let holder
  try {
    holder = JSON.parse(readFileSync(join(dataDirectory, "pnpm-start.lock"), "utf8"))
  } catch {
    return
  }
  if (typeof holder?.pid !== "number" || holder.pid === process.pid) return
  try {
    process.kill(holder.pid, 0)
  } catch (error) {
    if (error?.code !== "EPERM") return
  }
  console.error(
    `birthday-scheduler: pnpm start is already running from ${dataDirectory} (pid ${holder.pid}, API at ${
      String(holder.api ?? "")
    }) (LOCAL_DATA_DIR): use that one, stop it (Ctrl-C where it runs), or give this one its own LOCAL_DATA_DIR and ports`
  )
  process.exit(1)
}

let starting = true
let pending
const early = (signal) => {
  if (starting) process.exit(0)
  pending ??= signal
}
process.on("SIGINT", early).on("SIGTERM", early)
refuseWhenRunning()
console.log("birthday-scheduler: starting…")

const { register } = await import("tsx/esm/api")
register()
const { runLocalSystem } = await import("../packages/local/src/LocalSystem.ts")
starting = false
// A signal from here until the system's own handlers are in place is handed to it.
runLocalSystem({ pendingSignal: () => pending })
