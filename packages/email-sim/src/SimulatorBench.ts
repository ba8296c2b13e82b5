/**
 * The `pnpm bench email-sim` suite: requests per second of the simulator alone, with no faults.
 * Starts the simulator as its own process (as the delivery benchmark sees it), drives it with
 * `SendLoad` from this one, checks the simulator's own counters agree, then stops it.
 * It lives in this package so that it resolves the package's dependencies.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Schedule } from "effect"
import { fork } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import * as EmailSimAdmin from "./EmailSimAdmin.js"
import * as SendLoad from "./SendLoad.js"

const BenchConfig = Config.all({
  concurrency: Config.integer("EMAIL_SIM_BENCH_CONCURRENCY").pipe(
    Config.withDefault(64),
    Config.withDescription("Requests in flight at once")
  ),
  seconds: Config.number("EMAIL_SIM_BENCH_SECONDS").pipe(
    Config.withDefault(10),
    Config.withDescription("How long to send for")
  ),
  maxRequests: Config.integer("EMAIL_SIM_BENCH_MAX_REQUESTS").pipe(
    Config.withDefault(2_000_000),
    Config.withDescription("Upper bound on requests sent")
  )
})

const freePort = Effect.async<number>((resume) => {
  const probe = createServer()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    probe.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

/**
 * CPU time (ms) a process has used, from /proc on Linux (NaN elsewhere). Per-request CPU is the
 * figure that survives a busy machine, where req/s swings with whatever else is running.
 */
const cpuMs = (pid: number | undefined) =>
  Effect.sync(() => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // utime and stime, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
      return (Number(fields[11]) + Number(fields[12])) * 10
    } catch {
      return Number.NaN
    }
  })

/** Runs the simulator's `main.ts` in a child process with the same TypeScript loader as this one. */
const simulatorProcess = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      fork(fileURLToPath(new URL("./main.ts", import.meta.url)), ["--port", String(port)], {
        execArgv: process.execArgv,
        stdio: "inherit"
      })
    ),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )

/** The benchmark as an Effect: prints one line of figures and fails if the counters disagree. */
export const simulatorBench = Effect.gen(function*() {
  const config = yield* BenchConfig
  const port = yield* freePort
  const simulator = yield* simulatorProcess(port)
  const baseUrl = `http://127.0.0.1:${port}`
  yield* EmailSimAdmin.stats(baseUrl).pipe(
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("20 seconds")))
  )
  // A short warm-up so the JIT has compiled the hot path before the measured run.
  yield* SendLoad.run({
    baseUrl,
    concurrency: config.concurrency,
    durationMs: 2_000,
    maxRequests: 50_000,
    keyPrefix: "warm"
  })
  yield* EmailSimAdmin.reset(baseUrl)
  const cpuBefore = yield* cpuMs(simulator.pid)
  const result = yield* SendLoad.run({
    baseUrl,
    concurrency: config.concurrency,
    durationMs: config.seconds * 1000,
    maxRequests: config.maxRequests,
    keyPrefix: "bench"
  })
  const serverCpuMs = (yield* cpuMs(simulator.pid)) - cpuBefore
  const stats = yield* EmailSimAdmin.stats(baseUrl)
  yield* Console.log(JSON.stringify({
    suite: "email-sim",
    concurrency: config.concurrency,
    requests: result.requests,
    perSecond: Math.round(result.perSecond),
    p50Ms: Number(result.p50Ms.toFixed(2)),
    p99Ms: Number(result.p99Ms.toFixed(2)),
    // What one simulator core could serve if it had the CPU to itself.
    serverCpuUsPerRequest: Number((serverCpuMs * 1000 / result.requests).toFixed(1)),
    serverCapacityPerCore: Math.round(result.requests / (serverCpuMs / 1000)),
    notOk: result.notOk,
    errors: result.errors,
    acknowledged: stats.acknowledged
  }))
  if (stats.acknowledged !== result.ok || result.errors > 0) {
    return yield* Effect.dieMessage(`simulator acknowledged ${stats.acknowledged}, client saw ${result.ok} ok`)
  }
}).pipe(Effect.scoped)

/** Runs the suite as a program. */
export const runSimulatorBench = (): void => NodeRuntime.runMain(simulatorBench)
