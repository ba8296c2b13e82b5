/** The real API server in-process on a test run's database and streams, with its derived client. */
import { BirthdayApi } from "@birthday/domain"
import { PgLive } from "@birthday/ledger/Database"
import { HttpServerLive } from "@birthday/server/HttpServerLive"
import { HttpApiClient, HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { ConfigProvider, Effect, Layer, Schedule } from "effect"
import { createServer } from "node:net"
import type { TestRun } from "./DeliveryHarness.js"

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Starts the server for `run` (scoped) and returns its base URL and a client. */
export const startApiServer = (run: TestRun) =>
  Effect.flatMap(Layer.build(NodeHttpClient.layerUndici), (httpClient) =>
    Effect.gen(function*() {
      const port = yield* freePort
      const provider = ConfigProvider.fromMap(
        new Map(Object.entries({ ...run.env, HTTP_PORT: String(port), LOG_LEVEL: "Warning" }))
      )
      yield* Layer.launch(HttpServerLive.pipe(Layer.provide(PgLive))).pipe(
        Effect.withConfigProvider(provider),
        Effect.forkScoped
      )
      const baseUrl = `http://127.0.0.1:${port}`
      const http = yield* HttpClient.HttpClient
      yield* http.get(`${baseUrl}/health/live`).pipe(
        Effect.flatMap((response) => response.status === 200 ? Effect.void : Effect.fail("not ready")),
        Effect.scoped,
        Effect.timeout("1 second"),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds"))),
        Effect.orDie
      )
      const client = yield* HttpApiClient.make(BirthdayApi, { baseUrl })
      return { baseUrl, client, http }
    }).pipe(Effect.provide(httpClient)))
