import * as Otlp from "@effect/opentelemetry/Otlp"
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Effect, Layer, Logger, Option, Random } from "effect"
import { TelemetryConfig } from "./TelemetryConfig.js"

/**
 * The share of keep-alive and maintenance rounds that are traced (`TRACE_MAINTENANCE_RATIO`, read
 * at start by `observabilityLayer`); none where no observability layer is provided.
 */
export class MaintenanceTracing extends Context.Reference<MaintenanceTracing>()(
  "@birthday/telemetry/MaintenanceTracing",
  { defaultValue: () => ({ ratio: 0 }) }
) {}

/**
 * Tracing over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (nothing otherwise), the log
 * format from `LOG_FORMAT`, the minimum level from `LOG_LEVEL` and the share of maintenance rounds
 * traced from `TRACE_MAINTENANCE_RATIO`. A bad setting fails the layer (and the start).
 */
export const observabilityLayer = (serviceName: string) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const { logFormat, logLevel, maintenanceTraceRatio, otlpEndpoint } = yield* TelemetryConfig
      const logger = logFormat === "json"
        ? Logger.json
        : logFormat === "logfmt"
        ? Logger.logFmt
        : Logger.pretty
      const tracing = Option.match(otlpEndpoint, {
        onNone: () => Layer.empty,
        onSome: (baseUrl) =>
          Otlp.layerJson({ baseUrl, resource: { serviceName, serviceVersion: "0.1.0" }, replaceLogger: undefined })
            .pipe(Layer.provide(NodeHttpClient.layerUndici))
      })
      return Layer.mergeAll(
        logger,
        Logger.minimumLogLevel(logLevel),
        tracing,
        Layer.succeed(MaintenanceTracing, { ratio: maintenanceTraceRatio })
      )
    })
  ).pipe(Layer.orDie)

/**
 * One round of a keep-alive or maintenance loop, traced with probability
 * `TRACE_MAINTENANCE_RATIO` (default 0): an idle system would otherwise export thousands of
 * keeper pings a minute and drown the greetings' traces.
 */
export const maintenanceRound = <A, E, R>(round: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    MaintenanceTracing,
    ({ ratio }) =>
      ratio >= 1 ? round : Effect.flatMap(Random.next, (draw) => Effect.withTracerEnabled(round, draw < ratio))
  )
