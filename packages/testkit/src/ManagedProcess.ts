/**
 * A child process a scenario starts, signals and restarts, its output appended to a log file
 * (one per process, kept for debugging). Killed with SIGKILL (after SIGCONT, in case it was
 * frozen) when the scope that started it closes, also when the scenario failed.
 */
import { Effect, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, readFileSync, type WriteStream } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root, where `node --import tsx packages/…` entries resolve. */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** What to run: a command with arguments, or a TypeScript entry of this repo run with tsx. */
export interface ProcessSpec {
  /** Name in logs and file names (`runner-1`, `server`). */
  readonly name: string
  /** A path relative to the repository root, run as `node --import tsx <entry>`. */
  readonly entry?: string
  /** Or an executable (e.g. `/usr/sbin/nats-server`). */
  readonly command?: string
  readonly args?: ReadonlyArray<string>
  /** Added to this process's environment. */
  readonly env?: Record<string, string>
  /** Directory of the log file `<name>.log`. */
  readonly logDir: string
}

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running (or stopped) child process. */
export interface ManagedProcess {
  readonly name: string
  readonly logFile: string
  /** The current child's pid (changes on restart). */
  readonly pid: () => number | undefined
  readonly running: () => boolean
  /** Sends a signal without waiting. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** SIGKILL, waiting for the exit. */
  readonly kill: Effect.Effect<ProcessExit>
  /** SIGTERM, waiting for the exit (SIGKILL after `graceMs`, default 30 s). */
  readonly terminate: (graceMs?: number) => Effect.Effect<ProcessExit>
  /** SIGSTOP: frozen, its sockets open (a host that stopped answering). */
  readonly freeze: Effect.Effect<void>
  /** SIGCONT. */
  readonly thaw: Effect.Effect<void>
  /** Starts it again (after it exited or was killed) with the same spec, `env` merged over it. */
  readonly restart: (env?: Record<string, string>) => Effect.Effect<void>
  /** Resolves when the current child exits. */
  readonly exited: Effect.Effect<ProcessExit>
  /** The log file's last `lines` lines. */
  readonly tail: (lines?: number) => string
}

const waitExit = (child: ChildProcess) =>
  Effect.async<ProcessExit>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return resume(Effect.succeed({ code: child.exitCode, signal: child.signalCode }))
    }
    const done = (code: number | null, signal: NodeJS.Signals | null) => resume(Effect.succeed({ code, signal }))
    child.once("exit", done)
    return Effect.sync(() => child.off("exit", done))
  })

const alive = (child: ChildProcess | undefined): child is ChildProcess =>
  child !== undefined && child.exitCode === null && child.signalCode === null

// A test process that exits without closing its scopes (a killed vitest worker) takes its
// children along instead of leaving them running on the shared machine.
const children = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of children) if (alive(child)) child.kill("SIGKILL")
})

/** Starts a process in the current scope. */
export const startProcess = (spec: ProcessSpec): Effect.Effect<ManagedProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    const logFile = join(spec.logDir, `${spec.name}.log`)
    const log: WriteStream = createWriteStream(logFile, { flags: "a" })
    let child: ChildProcess | undefined
    let starts = 0

    const launch = (extraEnv: Record<string, string>) =>
      Effect.sync(() => {
        const env = { ...process.env, ...spec.env, ...extraEnv }
        const [command, args] = spec.entry !== undefined
          ? [process.execPath, ["--import", "tsx", spec.entry, ...(spec.args ?? [])]]
          : [spec.command!, [...(spec.args ?? [])]]
        log.write(`\n=== ${new Date().toISOString()} start #${++starts}: ${command} ${args.join(" ")}\n`)
        const next = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] })
        next.stdout!.on("data", (chunk) => log.write(chunk))
        next.stderr!.on("data", (chunk) => log.write(chunk))
        next.once("exit", (code, signal) =>
          log.write(`\n=== ${new Date().toISOString()} exit: code ${code} signal ${signal}\n`))
        children.add(next)
        next.once("exit", () =>
          children.delete(next))
        child = next
      })

    const signal = (name: NodeJS.Signals) => Effect.sync(() => void (alive(child) && child.kill(name)))
    const exited = Effect.suspend(() =>
      child === undefined ? Effect.succeed({ code: null, signal: null }) : waitExit(child)
    )
    const kill = Effect.gen(function*() {
      if (!alive(child)) return yield* exited
      const current = child
      current.kill("SIGCONT")
      current.kill("SIGKILL")
      return yield* waitExit(current)
    })
    const terminate = (graceMs = 30_000) =>
      Effect.gen(function*() {
        if (!alive(child)) return yield* exited
        const current = child
        current.kill("SIGCONT")
        current.kill("SIGTERM")
        return yield* waitExit(current).pipe(
          Effect.timeout(graceMs),
          Effect.catchAll(() => kill)
        )
      })

    yield* launch({})
    yield* Effect.addFinalizer(() => Effect.zipRight(kill, Effect.sync(() => log.end())))

    const handle: ManagedProcess = {
      name: spec.name,
      logFile,
      pid: () => child?.pid,
      running: () => alive(child),
      signal,
      kill,
      terminate,
      freeze: signal("SIGSTOP"),
      thaw: signal("SIGCONT"),
      restart: (env = {}) => Effect.zipRight(kill, launch(env)),
      exited,
      tail: (lines = 60) => {
        try {
          return readFileSync(logFile, "utf8").split("\n").slice(-lines).join("\n")
        } catch {
          return ""
        }
      }
    }
    return handle
  })
