import * as Otlp from "@effect/opentelemetry/Otlp"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Logger, Option } from "effect"
import { TelemetryConfig } from "./TelemetryConfig.js"

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
