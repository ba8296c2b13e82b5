/**
 * Free ports and the scenario's scratch directory. The directory holds the log files, NATS stores
 * and Postgres data; it is removed when the scope closes after a success and kept (its path
 * printed) after a failure, or always with `TESTKIT_KEEP=1`.
 */
import { Effect, Exit, Scope } from "effect"
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A loopback port nothing listens on right now. */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A fresh directory under the OS temp dir, readable by other users (Postgres runs as `postgres`). */
export const scratchDirectory = (label: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), `testkit-${label}-`))
      chmodSync(dir, 0o755)
      return dir
    }),
    (dir, exit) =>
      Effect.sync(() => {
        if (Exit.isFailure(exit) || process.env.TESTKIT_KEEP === "1") {
          console.error(`testkit: kept ${dir} (logs: ${dir}/logs)`)
        } else {
          rmSync(dir, { recursive: true, force: true })
        }
      })
  )

/** Polls `check` every `intervalMs` until it returns true; dies after `timeoutMs` naming `label` and the last value. */
export const waitFor = <A, E, R>(
  label: string,
  read: Effect.Effect<A, E, R>,
  done: (value: A) => boolean,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {}
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000)
    for (;;) {
      const value = yield* read
      if (done(value)) return value
      if (Date.now() > deadline) {
        return yield* Effect.dieMessage(`timed out waiting for ${label}; last value: ${JSON.stringify(value)}`)
      }
      yield* Effect.sleep(options.intervalMs ?? 250)
    }
  })

/** `Effect.sleep` until an epoch-ms instant on the wall clock (now if it has passed). */
export const sleepUntil = (at: number): Effect.Effect<void> =>
  Effect.suspend(() => Effect.sleep(Math.max(0, at - Date.now())))
