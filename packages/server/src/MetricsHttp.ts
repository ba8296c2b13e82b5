import { refreshDeliveryBacklog } from "@birthday/ledger/DeliveryBacklog"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { prometheusContentType, prometheusSnapshot } from "@birthday/telemetry/PrometheusMetrics"
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option, Schedule } from "effect"
import { ApiTokens } from "./ApiTokens.js"
import { ClusterInspector } from "./ClusterInspector.js"
import { refreshClusterMetrics } from "./ClusterMetrics.js"
import { ServerSettings } from "./ServerSettings.js"

/**
 * `GET /metrics`: this process's metrics plus the ledger backlog and slice ownership, as
 * Prometheus text. The ledger-wide gauges are recomputed every `METRICS_REFRESH` in the
 * background, never per scrape (a scrape storm would otherwise run ledger-wide counts per
 * request). With `API_TOKENS` set, a scrape needs a token like every other API route.
 */
export const MetricsHttpLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const inspector = yield* ClusterInspector
    const tokens = yield* ApiTokens
    const { metricsRefresh } = yield* ServerSettings
    const refresh = Effect.all([
      Effect.provideService(refreshDeliveryBacklog, SqlClient.SqlClient, sql),
      Effect.provideService(refreshClusterMetrics, ClusterInspector, inspector)
    ], { concurrency: 2, discard: true }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("Refreshing the /metrics gauges failed", cause))
    )
    yield* refresh.pipe(maintenanceRound, Effect.repeat(Schedule.spaced(metricsRefresh)), Effect.forkScoped)
    const unauthorized = HttpServerResponse.unsafeJson({
      _tag: "Unauthorized",
      message: "A valid `Authorization: Bearer <token>` header is required"
    }, { status: 401 })
    yield* router.get(
      "/metrics",
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (tokens.enabled && Option.isNone(tokens.principal(request.headers["authorization"]))) return unauthorized
        return HttpServerResponse.text(yield* prometheusSnapshot, { contentType: prometheusContentType })
      })
    )
  })
).pipe(Layer.provide(ClusterInspector.Default))
