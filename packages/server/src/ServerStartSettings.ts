/**
 * Every setting the API server reads, read and checked together at start, before it binds its
 * port or waits for Postgres: a bad one is named at once, never hidden behind a wait.
 */
import {
  ClockOffsetConfig,
  NatsConfig,
  occasionKindsConfig,
  type PortSetting,
  SliceHorizonConfig,
  SlicesConfig
} from "@birthday/domain"
import { DatabaseTimeouts } from "@birthday/ledger/LedgerConfig"
import { TelemetryConfig } from "@birthday/telemetry/TelemetryConfig"
import { Config } from "effect"
import { ShardLockExpiration } from "./ClusterInspector.js"
import { DeliveryCommandPublisherConfig } from "./DeliveryCommandPublisher.js"
import { ServerConfig } from "./ServerConfig.js"

/** All of the server's settings (its main and every layer it builds). */
export const ServerStartSettings = Config.all([
  ServerConfig,
  DatabaseTimeouts,
  NatsConfig,
  SlicesConfig,
  SliceHorizonConfig,
  ClockOffsetConfig,
  ShardLockExpiration,
  DeliveryCommandPublisherConfig,
  occasionKindsConfig,
  TelemetryConfig
])

/** The settings checked, and the port the server listens on. */
export const serverPorts: Config.Config<ReadonlyArray<PortSetting>> = Config.map(
  ServerStartSettings,
  ([server]) => [{ setting: "HTTP_PORT", port: server.httpPort, host: server.httpHost }]
)
