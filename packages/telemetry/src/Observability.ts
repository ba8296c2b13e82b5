import * as Otlp from "@effect/opentelemetry/Otlp"
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Effect, Layer, Logger, Option, Random, Tracer } from "effect"
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
          Layer.provideMerge(
            keepAliveHandlersSampled(maintenanceTraceRatio),
            Otlp.layerJson({ baseUrl, resource: { serviceName, serviceVersion: "0.1.0" }, replaceLogger: undefined })
              .pipe(Layer.provide(NodeHttpClient.layerUndici))
          )
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

/**
 * The receiving side of a keep-alive: an entity handling a keeper's `Ping` (`Slice(12).Ping`).
 * The keeper's round is untraced (`maintenanceRound`), but the cluster's RPC server opens a span
 * for every message it handles whatever the sender did, one root span per ping and slice.
 */
const keepAliveHandler = /^[A-Za-z]+\(.*\)\.Ping$/

/**
 * Wraps the tracer in force so that keep-alive handler spans are kept with probability `ratio`
 * (`TRACE_MAINTENANCE_RATIO`), like the rounds that send them; a span not kept is never exported
 * (its `end` does nothing). Every other span is left alone.
 */
const keepAliveHandlersSampled = (ratio: number) =>
  Layer.unwrapEffect(Effect.map(Effect.tracer, (inner) =>
    Layer.setTracer(Tracer.make({
      span: (name, parent, context, links, startTime, kind, options) => {
        const span = inner.span(name, parent, context, links, startTime, kind, options)
        if (ratio < 1 && keepAliveHandler.test(name) && Math.random() >= ratio) span.end = () => undefined
        return span
      },
      context: inner.context
    }))))
