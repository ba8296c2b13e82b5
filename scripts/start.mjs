/**
 * `pnpm start`: migrations, API server and runner on this machine (see LocalSystem). Plain JS, so
 * that a Ctrl-C is handled from the first moment: loading the TypeScript sources takes seconds, and
 * a signal then must still exit 0 (nothing has started yet, so there is nothing to stop). Once
 * the system runs, it takes signals itself and stops what it started.
 */
let starting = true
let pending
const early = (signal) => {
  if (starting) process.exit(0)
  pending ??= signal
}
process.on("SIGINT", early).on("SIGTERM", early)
console.log("birthday-scheduler: starting…")

const { register } = await import("tsx/esm/api")
register()
const { runLocalSystem } = await import("../packages/local/src/LocalSystem.ts")
starting = false
// A signal from here until the system's own handlers are in place is handed to it.
runLocalSystem({ pendingSignal: () => pending })
