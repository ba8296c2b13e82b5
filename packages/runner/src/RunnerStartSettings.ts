/**
 * Every setting a runner reads, read and checked together at start, before it binds a port or
 * waits for Postgres or NATS: a bad one is named at once, never hidden behind a wait, a taken
 * port or delivery workers started and drained.
 */
import { NatsConfig, occasionKindsConfig, type PortSetting, SlicesConfig } from "@birthday/domain"
import { DatabaseTimeouts, DatabaseUrl } from "@birthday/ledger/LedgerConfig"
import { TelemetryConfig } from "@birthday/telemetry/TelemetryConfig"
import { Config } from "effect"
import { DeliveryConfig } from "./DeliveryConfig.js"
import { PgSessionLivenessConfig } from "./PgSessionLiveness.js"
import { RunnerConfig } from "./RunnerConfig.js"

/** All of a runner's settings (its main and every layer it builds). */
export const RunnerStartSettings = Config.all([
  RunnerConfig,
  DeliveryConfig,
  PgSessionLivenessConfig,
  DatabaseUrl,
  DatabaseTimeouts,
  NatsConfig,
  SlicesConfig,
  occasionKindsConfig,
  TelemetryConfig
])

/** The settings checked, and the ports the runner listens on by the setting that holds each. */
export const runnerPorts: Config.Config<ReadonlyArray<PortSetting>> = Config.map(
  RunnerStartSettings,
  ([runner, delivery]) => [
    { setting: "RUNNER_PORT", port: runner.runnerPort, host: runner.runnerHost },
    { setting: "RUNNER_METRICS_PORT", port: delivery.metricsPort, host: delivery.metricsHost }
  ]
)
