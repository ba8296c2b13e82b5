/**
 * The whole system on one machine in one command (`pnpm start`). Uses Postgres and NATS on their
 * default addresses, starting an embedded Postgres and a `nats-server -js` there when nothing
 * answers (LocalInfrastructure), applies migrations, then runs each role as its own process
 * (output prefixed by role). SIGINT or SIGTERM stops the roles (they drain), then Postgres and
 * NATS, and exits 0; a role exiting on its own stops the rest and exits 1.
 */
import { reportStartupFailure } from "@birthday/domain"
import { SimulatorConfig } from "@birthday/email-sim/SimulatorConfig"
import { MigrationsLive, PgLive } from "@birthday/ledger/Database"
import { DeliveryConfig } from "@birthday/runner/DeliveryConfig"
import { RunnerConfig } from "@birthday/runner/RunnerConfig"
import { ServerConfig } from "@birthday/server/ServerConfig"
import { Config, Deferred, Effect, Layer, Option } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { localNats, localPostgres, type LocalService } from "./LocalInfrastructure.js"
import { checkRolePorts, holdDataDirectory } from "./LocalInstance.js"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** `pnpm start`'s own settings. */
export const LocalSystemConfig = Config.all({
  runners: Config.integer("LOCAL_RUNNERS").pipe(
    // Validated before the default is attached, which would otherwise lose the name from the error.
    Config.validate({ message: "must be between 1 and 16", validation: (n) => n >= 1 && n <= 16 }),
    Config.withDefault(1),
    Config.withDescription("Runner processes to start; runner i listens on RUNNER_PORT+i and RUNNER_METRICS_PORT+i")
  ),
  dataDirectory: Config.string("LOCAL_DATA_DIR").pipe(
    Config.withDefault(join(repoRoot, ".data")),
    Config.withDescription("Where the embedded Postgres and NATS keep their data (git-ignored)")
  )
})

interface Role {
  readonly name: string
  readonly entry: string
  readonly env: Record<string, string>
}

const colors = ["\x1b[36m", "\x1b[35m", "\x1b[33m", "\x1b[32m", "\x1b[34m"]

const prefixLines = (name: string, color: string, target: NodeJS.WriteStream) => {
  let buffered = ""
  return (chunk: Buffer) => {
    buffered += String(chunk)
    const lines = buffered.split("\n")
    buffered = lines.pop() ?? ""
    for (const line of lines) target.write(`${color}${name.padEnd(8)}\x1b[0m| ${line}\n`)
  }
}

const describe = (service: LocalService) =>
  Option.match(service.dataDirectory, {
    onNone: () => `${service.url} (already running)`,
    onSome: (folder) => `${service.url} (started here, data in ${folder})`
  })

/** How `pnpm start` hands over a signal that came before the system listened for signals. */
export interface LocalSystemOptions {
  readonly pendingSignal?: () => NodeJS.Signals | undefined
}

/**
 * Runs the system until a signal or a role exits; the exit code (0 after a signal, also one that
 * comes while Postgres, NATS or the migrations start: what started is stopped).
 */
export const runLocalSystemUntilStopped = (options: LocalSystemOptions = {}) =>
  Effect.gen(function*() {
    const settings = yield* LocalSystemConfig
    const server = yield* ServerConfig
    const runner = yield* RunnerConfig
    const delivery = yield* DeliveryConfig
    const simulator = yield* SimulatorConfig
    const provider = yield* Config.option(Config.string("EMAIL_SERVICE_URL"))
    // A Ctrl-C while Postgres, NATS or the migrations start stops here (the scope stops what started).
    const signals = yield* Deferred.make<NodeJS.Signals>()
    const children: Array<ChildProcess> = []
    const stopAll = (signal: NodeJS.Signals) => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    }
    let stopping: "signal" | "failure" | undefined
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping !== undefined) return
      stopping = "signal"
      Deferred.unsafeDone(signals, Effect.succeed(signal))
      console.log(`\nbirthday-scheduler: stopping (${signal})…`)
      stopAll(signal)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGINT", onSignal).on("SIGTERM", onSignal)),
      () => Effect.sync(() => process.off("SIGINT", onSignal).off("SIGTERM", onSignal))
    )
    const pending = options.pendingSignal?.()
    if (pending !== undefined) onSignal(pending)
    // Another pnpm start (or a role started by hand) is found before anything starts or prints.
    const base = `http://${server.httpHost}:${server.httpPort}`
    yield* holdDataDirectory(settings.dataDirectory, base)
    yield* checkRolePorts([
      { setting: "HTTP_PORT", host: server.httpHost, port: server.httpPort },
      { setting: "EMAIL_SIM_PORT", host: simulator.host, port: simulator.port },
      ...Array.from({ length: settings.runners }, (_, index) => [
        { setting: "RUNNER_PORT", host: runner.runnerHost, port: runner.runnerPort + index },
        { setting: "RUNNER_METRICS_PORT", host: delivery.metricsHost, port: delivery.metricsPort + index }
      ]).flat()
    ])
    const started = yield* Effect.raceFirst(
      Effect.gen(function*() {
        const postgres = yield* localPostgres(join(settings.dataDirectory, "postgres"))
        const nats = yield* localNats(join(settings.dataDirectory, "nats"))
        console.log("birthday-scheduler: applying migrations…")
        yield* Effect.scoped(Layer.build(MigrationsLive.pipe(Layer.provide(PgLive))))
        return Option.some({ postgres, nats })
      }),
      Effect.as(Deferred.await(signals), Option.none())
    )
    if (Option.isNone(started)) return 0
    const { nats, postgres } = started.value

    const roles: Array<Role> = [
      { name: "email", entry: "packages/email-sim/src/main.ts", env: {} },
      { name: "server", entry: "packages/server/src/main.ts", env: {} },
      ...Array.from({ length: settings.runners }, (_, index): Role => ({
        name: settings.runners === 1 ? "runner" : `runner-${index + 1}`,
        entry: "packages/runner/src/main.ts",
        env: {
          // The runners send to this simulator unless EMAIL_SERVICE_URL names another provider.
          ...(Option.isNone(provider) ? { EMAIL_SERVICE_URL: `http://${simulator.host}:${simulator.port}` } : {}),
          ...(index === 0 ? {} : {
            RUNNER_PORT: String(runner.runnerPort + index),
            RUNNER_METRICS_PORT: String(delivery.metricsPort + index)
          })
        }
      }))
    ]
    console.log(`birthday-scheduler: migrations applied; starting ${roles.map((role) => role.name).join(", ")}`)

    const stopped = yield* Deferred.make<number>()
    roles.forEach((role, index) => {
      // Its own process group: a terminal's Ctrl-C reaches this process only, which forwards it
      // once (a second SIGINT would kill a role mid-drain).
      const child = spawn(process.execPath, ["--import", "tsx", role.entry], {
        cwd: repoRoot,
        env: { ...process.env, ...role.env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true
      })
      const color = colors[index % colors.length]!
      child.stdout!.on("data", prefixLines(role.name, color, process.stdout))
      child.stderr!.on("data", prefixLines(role.name, color, process.stderr))
      child.on("exit", (code, signal) => {
        // The first to go without a signal fails the run; the rest are stopped.
        if (stopping === undefined) {
          stopping = "failure"
          console.log(`birthday-scheduler: ${role.name} exited (${signal ?? code}); stopping the rest`)
        }
        stopAll("SIGTERM")
        if (children.every((other) => other.exitCode !== null || other.signalCode !== null)) {
          Deferred.unsafeDone(stopped, Effect.succeed(stopping === "failure" ? 1 : 0))
        }
      })
      children.push(child)
    })
    const metrics = `http://${delivery.metricsHost}:${delivery.metricsPort}`
    console.log([
      "",
      `  API       ${base}   (docs ${base}/docs, OpenAPI ${base}/openapi.json)`,
      `  Health    ${base}/health/ready`,
      `  Email     http://${simulator.host}:${simulator.port}/messages   (the simulator: greetings that arrived)`,
      `  Runner    ${metrics}/metrics, ${metrics}/health/ready${
        settings.runners > 1 ? ` (+1 per runner, ${settings.runners} runners)` : ""
      }`,
      `  Postgres  ${describe(postgres)}`,
      `  NATS      ${describe(nats)}`,
      "  CLI       pnpm birthday --help",
      "  Stop      Ctrl-C",
      ""
    ].join("\n"))
    return yield* Deferred.await(stopped)
  })

/** `pnpm start`: runs the system, then stops Postgres and NATS if it started them, and exits. */
export const runLocalSystem = (options: LocalSystemOptions = {}): void => {
  Effect.runPromise(
    runLocalSystemUntilStopped(options).pipe(
      Effect.scoped,
      reportStartupFailure("birthday-scheduler", Effect.succeed([])),
      Effect.catchAllCause(() => Effect.succeed(1))
    )
  ).then((code) => process.exit(code))
}
