import { refreshDeliveryBacklog } from "@birthday/server/DeliveryBacklog"
import { prometheusContentType, prometheusSnapshot } from "@birthday/server/PrometheusMetrics"
import type { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Runtime } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { DeliverySettings } from "./DeliveryConfig.js"

/** The runner's Prometheus listener, once bound. */
export class MetricsServer extends Context.Tag("@birthday/runner/MetricsServer")<MetricsServer, {
  readonly port: number
  readonly url: string
}>() {
  /** `GET /metrics` on `RUNNER_METRICS_HOST:RUNNER_METRICS_PORT` (plain node:http: one route). */
  static readonly layer = Layer.scoped(
    MetricsServer,
    Effect.gen(function*() {
      const { metricsHost, metricsPort } = yield* DeliverySettings
      const runtime = yield* Effect.runtime<SqlClient.SqlClient>()
      const render = Effect.zipRight(refreshDeliveryBacklog, prometheusSnapshot)
      const server = Http.createServer((req, res) => {
        if (req.method !== "GET" || (req.url ?? "/").split("?")[0] !== "/metrics") {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
          return
        }
        Runtime.runPromise(runtime)(render).then(
          (text) => res.writeHead(200, { "content-type": prometheusContentType }).end(text),
          (error) => res.writeHead(500, { "content-type": "text/plain" }).end(String(error))
        )
      })
      const port = yield* Effect.acquireRelease(
        Effect.async<number, Error>((resume) => {
          server.once("error", (error) => resume(Effect.fail(error)))
          server.listen(metricsPort, metricsHost, () => resume(Effect.succeed((server.address() as AddressInfo).port)))
        }),
        () =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      ).pipe(Effect.orDie)
      const url = `http://${metricsHost}:${port}/metrics`
      yield* Effect.logInfo(`Runner metrics on ${url}`)
      return { port, url }
    })
  )
}
