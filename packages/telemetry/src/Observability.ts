import * as Otlp from "@effect/opentelemetry/Otlp"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Logger, Option, Random } from "effect"
import { MaintenanceTraceRatio, TelemetryConfig } from "./TelemetryConfig.js"

/**
 * Tracing over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (nothing otherwise), the log
 * format from `LOG_FORMAT` and the minimum level from `LOG_LEVEL`.
 */
export const observabilityLayer = (serviceName: string) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const { logFormat, logLevel, otlpEndpoint } = yield* TelemetryConfig
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
      return Layer.mergeAll(logger, Logger.minimumLogLevel(logLevel), tracing)
    })
  ).pipe(Layer.orDie)

/**
 * One round of a keep-alive or maintenance loop, traced with probability
 * `TRACE_MAINTENANCE_RATIO` (default 0): an idle system would otherwise export thousands of
 * keeper pings a minute and drown the greetings' traces.
 */
export const maintenanceRound = <A, E, R>(round: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.orElseSucceed(MaintenanceTraceRatio, () => 0),
    (ratio) => ratio >= 1 ? round : Effect.flatMap(Random.next, (draw) => Effect.withTracerEnabled(round, draw < ratio))
  )
