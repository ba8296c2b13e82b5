import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { refreshDeliveryBacklog } from "./DeliveryBacklog.js"
import { prometheusContentType, prometheusSnapshot } from "./PrometheusMetrics.js"

/** `GET /metrics`: this process's metrics plus the ledger backlog, as Prometheus text. */
export const MetricsHttpLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* router.get(
      "/metrics",
      Effect.gen(function*() {
        yield* Effect.provideService(refreshDeliveryBacklog, SqlClient.SqlClient, sql)
        return HttpServerResponse.text(yield* prometheusSnapshot, { contentType: prometheusContentType })
      })
    )
  })
)
