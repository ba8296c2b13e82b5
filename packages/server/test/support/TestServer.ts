import { BirthdayApi } from "@birthday/domain"
import { PgLive } from "@birthday/ledger/Database"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { HttpApiClient, HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { ConfigProvider, Context, Effect, Fiber, Layer, Redacted, Schedule } from "effect"
import { createServer } from "node:net"
import { HttpServerLive } from "../../src/HttpServerLive.js"
import { testDatabaseUrl } from "./TestDatabase.js"

/** A port the OS says is free right now. */
export const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const makeClient = (baseUrl: string) => HttpApiClient.make(BirthdayApi, { baseUrl })

/** The client derived from the domain API. */
export type ApiClient = Effect.Effect.Success<ReturnType<typeof makeClient>>

/** A running API server on its own database, and a client derived from the domain API. */
export class TestServer extends Context.Tag("test/TestServer")<TestServer, {
  readonly baseUrl: string
  readonly databaseUrl: Redacted.Redacted
  readonly client: ApiClient
  readonly http: HttpClient.HttpClient
}>() {}

/**
 * Starts the real HTTP server in this process against a fresh Postgres database (dropped
 * afterwards). `env` adds or overrides configuration, as the environment would.
 */
export const testServerLayer = (env: Record<string, string> = {}) =>
  Layer.scoped(
    TestServer,
    Effect.gen(function*() {
      const db = yield* testDatabaseUrl
      const port = yield* freePort
      const provider = ConfigProvider.fromMap(
        new Map(Object.entries({
          DATABASE_URL: Redacted.value(db.url),
          HTTP_PORT: String(port),
          LOG_LEVEL: "Warning",
          ...env
        }))
      )
      const server = yield* Layer.launch(
        HttpServerLive.pipe(Layer.provide(PgLive), Layer.provide(observabilityLayer("birthday-server-test")))
      ).pipe(
        Effect.withConfigProvider(provider),
        Effect.tapErrorCause((cause) => Effect.logError("test server failed", cause)),
        Effect.forkScoped
      )
      const baseUrl = `http://127.0.0.1:${port}`
      const http = yield* HttpClient.HttpClient
      // Ready when migrations are applied and Postgres answers.
      yield* http.get(`${baseUrl}/health/ready`).pipe(
        Effect.flatMap((response) =>
          Effect.flatMap(response.text, () => response.status === 200 ? Effect.void : Effect.fail("not ready"))
        ),
        Effect.scoped,
        // The socket listens before the app is mounted; requests in that gap are never answered.
        Effect.timeout("1 second"),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds"))),
        Effect.orDie,
        // A server that fails to start fails the suite at once, with its own error.
        Effect.raceFirst(Fiber.join(server).pipe(Effect.orDie))
      )
      const client = yield* makeClient(baseUrl)
      return { baseUrl, databaseUrl: db.url, client, http }
    })
  ).pipe(Layer.provide(NodeHttpClient.layerUndici))
