import { refreshDeliveryBacklog } from "@birthday/ledger/DeliveryBacklog"
import { prometheusContentType, prometheusSnapshot } from "@birthday/telemetry/PrometheusMetrics"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { ClusterInspector } from "./ClusterInspector.js"
import { refreshClusterMetrics } from "./ClusterMetrics.js"

/** `GET /metrics`: this process's metrics plus the ledger backlog and slice ownership, as Prometheus text. */
export const MetricsHttpLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const inspector = yield* ClusterInspector
    yield* router.get(
      "/metrics",
      Effect.gen(function*() {
        yield* Effect.all([
          Effect.provideService(refreshDeliveryBacklog, SqlClient.SqlClient, sql),
          Effect.provideService(refreshClusterMetrics, ClusterInspector, inspector)
        ], { concurrency: 2, discard: true })
        return HttpServerResponse.text(yield* prometheusSnapshot, { contentType: prometheusContentType })
      })
    )
  })
).pipe(Layer.provide(ClusterInspector.Default))
