import { StartupFailure } from "@birthday/domain"
import { refreshDeliveryBacklog } from "@birthday/ledger/DeliveryBacklog"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { prometheusContentType, prometheusSnapshot } from "@birthday/telemetry/PrometheusMetrics"
import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Option, Runtime } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { DeliverySettings } from "./DeliveryConfig.js"
import { LocalSlices } from "./LocalSlices.js"
import { Nats } from "./Nats.js"
import { SliceLease } from "./SliceLease.js"

/** What `GET /health/ready` answers. */
export interface RunnerReadiness {
  readonly status: "ok" | "unavailable"
  readonly checks: {
    readonly postgres: string
    readonly nats: string
    /** Scheduler runners: "held" (the slice lease is ours, `slices` fire here) or "lost" (none fire here). */
    readonly lease?: "held" | "lost"
  }
  /** Scheduler runners: how many slices this runner fires now (0 while the lease is lost). */
  readonly slices?: number
}

/** The runner's operations listener (metrics and health), once bound. */
export class OperationsServer extends Context.Tag("@birthday/runner/OperationsServer")<OperationsServer, {
  readonly port: number
  /** Base URL: `/metrics`, `/health/live` and `/health/ready` hang off it. */
  readonly url: string
}>() {
  /**
   * `GET /metrics` (Prometheus text), `GET /health/live` and `GET /health/ready` (Postgres and
   * NATS answer within a second; 503 otherwise) on `RUNNER_METRICS_HOST:RUNNER_METRICS_PORT`,
   * plain node:http: three routes, scraped and probed often.
   */
  static readonly layer = Layer.scoped(
    OperationsServer,
    Effect.gen(function*() {
      const { metricsHost, metricsPort } = yield* DeliverySettings
      const sql = yield* SqlClient.SqlClient
      const { connection } = yield* Nats
      const runtime = yield* Effect.runtime<SqlClient.SqlClient>()
      const metrics = Effect.zipRight(refreshDeliveryBacklog, prometheusSnapshot)
      // Present on a runner with the scheduler: a runner that lost its lease owns no slices and is not ready.
      const lease = yield* Effect.serviceOption(SliceLease)
      const local = yield* Effect.serviceOption(LocalSlices)
      const leaseState: Effect.Effect<{ readonly lease?: "held" | "lost"; readonly slices?: number }> = Option.match(
        lease,
        {
          onNone: () => Effect.succeed({}),
          onSome: (held) =>
            Effect.map(held.remaining, (remaining) => ({
              lease: remaining > 0 ? "held" as const : "lost" as const,
              slices: remaining > 0 ? Option.match(local, { onNone: () => 0, onSome: (set) => set.size }) : 0
            }))
        }
      )
      const check = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(
          Effect.timeout("1 second"),
          Effect.as("ok"),
          Effect.catchAllCause(() => Effect.succeed("unreachable"))
        )
      const readiness = Effect.map(
        Effect.all([
          Effect.all({
            postgres: check(sql`SELECT 1`),
            // A round trip: a connection that is reconnecting does not answer it.
            nats: check(Effect.tryPromise(() => connection.flush()))
          }, { concurrency: 2 }),
          leaseState
        ]),
        ([checks, { lease, slices }]): RunnerReadiness => ({
          status: checks.postgres === "ok" && checks.nats === "ok" && lease !== "lost" ? "ok" : "unavailable",
          checks: lease === undefined ? checks : { ...checks, lease },
          ...(slices === undefined ? {} : { slices })
        })
      ).pipe(Effect.withSpan("OperationsServer.ready"), maintenanceRound)

      const routes: Record<string, (res: Http.ServerResponse) => Promise<unknown>> = {
        "/metrics": (res) =>
          Runtime.runPromise(runtime, metrics).then((text) =>
            res.writeHead(200, { "content-type": prometheusContentType }).end(text)
          ),
        "/health/live": async (res) =>
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" })),
        "/health/ready": (res) =>
          Runtime.runPromise(runtime, readiness).then((ready) =>
            res.writeHead(ready.status === "ok" ? 200 : 503, { "content-type": "application/json" }).end(
              JSON.stringify(ready)
            )
          )
      }
      const server = Http.createServer((req, res) => {
        const route = req.method === "GET" ? routes[(req.url ?? "/").split("?")[0]!] : undefined
        if (route === undefined) {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
          return
        }
        route(res).catch((error) => res.writeHead(500, { "content-type": "text/plain" }).end(String(error)))
      })
      const port = yield* Effect.acquireRelease(
        Effect.async<number, Error | StartupFailure>((resume) => {
          server.once("error", (error: NodeJS.ErrnoException) =>
            resume(Effect.fail(
              error.code === "EADDRINUSE"
                ? new StartupFailure({
                  problem: `port ${metricsHost}:${metricsPort} is taken, by another runner perhaps`,
                  setting: "RUNNER_METRICS_PORT",
                  fix:
                    "give each runner on one machine its own RUNNER_METRICS_PORT (and RUNNER_PORT), or 0 for any free port"
                })
                : error
            )))
          server.listen(metricsPort, metricsHost, () => resume(Effect.succeed((server.address() as AddressInfo).port)))
        }),
        () =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      ).pipe(Effect.orDie)
      const url = `http://${metricsHost}:${port}`
      yield* Effect.logInfo(`Runner metrics on ${url}/metrics, health on ${url}/health/ready`)
      return { port, url }
    })
  )
}
