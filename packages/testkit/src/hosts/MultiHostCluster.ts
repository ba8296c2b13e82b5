/**
 * The product on several network hosts: a lab (bridge + one namespace per host), its private
 * Postgres, NATS and email simulator on the bridge address, and runner processes started inside
 * the hosts with `RUNNER_HOST` = the host's own address, so cluster RPC, Postgres sessions, NATS
 * and provider calls all cross the host's link.
 */
import { HostLab, type LabHost } from "./HostLab.js"
import type { LabProcess } from "./LabProcess.js"
import {
  type LabNats,
  type LabPostgres,
  type LabSimulator,
  repoRoot,
  startNats,
  startPostgres,
  startSimulator
} from "./LabServices.js"

/** Cluster port of every runner (each host has its own address, so they need not differ). */
export const runnerPort = 34431
/** Metrics and health port of every runner, on its host's address. */
export const runnerMetricsPort = 9464

export interface RunnerOnHost {
  readonly host: LabHost
  readonly process: LabProcess
  /** `address:port`, as the cluster and `slice_ownership` name it. */
  readonly address: string
  /** Base URL of its `/metrics` and `/health/*`. */
  readonly operationsUrl: string
}

export interface MultiHostOptions {
  readonly hosts: number
  readonly slices?: number
  /** `EMAIL_SIM_*` settings of the simulator. */
  readonly simulatorEnv?: Record<string, string>
}

export class MultiHostCluster {
  readonly runners: Array<RunnerOnHost> = []

  private constructor(
    readonly lab: HostLab,
    readonly postgres: LabPostgres,
    readonly nats: LabNats,
    readonly simulator: LabSimulator,
    readonly database: string,
    readonly streamPrefix: string,
    readonly slices: number
  ) {}

  /** Builds the lab and its services; on any failure everything made so far is removed. */
  static async create(options: MultiHostOptions): Promise<MultiHostCluster> {
    const lab = HostLab.create({ hosts: options.hosts })
    try {
      const [postgres, nats, simulator] = await Promise.all([
        startPostgres(lab),
        startNats(lab),
        startSimulator(lab, options.simulatorEnv)
      ])
      return new MultiHostCluster(
        lab,
        postgres,
        nats,
        simulator,
        `birthday_hosts_${lab.tag}`,
        `th${lab.tag}`,
        options.slices ?? 64
      )
    } catch (error) {
      lab.destroy()
      throw error
    }
  }

  get databaseUrl(): string {
    return this.postgres.url(this.database)
  }

  /** The environment a runner process gets on `host` (override anything with `env`). */
  runnerEnv(host: LabHost, env: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DATABASE_URL: this.databaseUrl,
      NATS_URL: this.nats.url,
      NATS_STREAM_PREFIX: this.streamPrefix,
      SLICES: String(this.slices),
      RUNNER_HOST: host.address,
      RUNNER_PORT: String(runnerPort),
      RUNNER_METRICS_HOST: host.address,
      RUNNER_METRICS_PORT: String(runnerMetricsPort),
      RUNNER_ID: `host-${host.index}`,
      EMAIL_SERVICE_URL: this.simulator.url,
      LOG_LEVEL: "WARN",
      ...env
    }
  }

  /** Starts `packages/runner/src/main.ts` inside `host`. */
  startRunner(host: LabHost, env: Record<string, string> = {}): RunnerOnHost {
    const started = this.lab.start(`runner@${host.address}`, host, process.execPath, [
      "--import",
      "tsx",
      "packages/runner/src/main.ts"
    ], { cwd: repoRoot, env: this.runnerEnv(host, env) })
    const runner: RunnerOnHost = {
      host,
      process: started,
      address: `${host.address}:${runnerPort}`,
      operationsUrl: `http://${host.address}:${runnerMetricsPort}`
    }
    const index = this.runners.findIndex((existing) => existing.host === host)
    if (index >= 0) this.runners[index] = runner
    else this.runners.push(runner)
    return runner
  }

  /** The runner currently started on `host`. */
  runnerOn(host: LabHost): RunnerOnHost {
    const found = this.runners.find((runner) => runner.host === host)
    if (found === undefined) throw new Error(`no runner on ${host.address}`)
    return found
  }

  /** Output of every runner, for a failure report. */
  runnerOutput(): string {
    return this.runners.map((runner) => `--- ${runner.address}\n${runner.process.output()}`).join("\n")
  }

  /** Stops everything and removes the lab. */
  destroy(): void {
    this.lab.destroy()
  }
}
