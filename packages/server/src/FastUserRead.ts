import { UserNotFound } from "@birthday/domain"
import { PgPool } from "@birthday/ledger/Database"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlError } from "@effect/sql"
import { Cause, Effect, Layer, Option, Runtime, type Scope } from "effect"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { ListenOptions } from "node:net"
import { ApiTokens } from "./ApiTokens.js"
import { hotErrorAnswer, missingToken, userPath } from "./HotRoutes.js"
import { InFlightRequests, shuttingDown } from "./InFlightRequests.js"
import { callerKey, rateLimited, RateLimiter } from "./RateLimiter.js"
import { TelemetryConfig } from "./ServerConfig.js"
import { unexpectedRejection } from "./UnexpectedFailure.js"
import { liveUserStatement, userJsonFromRow, type UserRow } from "./UserRepository.js"

/** Writes a JSON answer with the headers, in the order, that the Effect server writes for it. */
const send = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const json = Buffer.from(JSON.stringify(body))
  response.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": String(json.length)
  })
  response.end(json)
}

/**
 * `GET /users/{id}`, the request integrators send most, answered in Node's request listener
 * before the Effect HTTP app sees it. Why it exists: served by the app (HotRoutes), a read cost
 * ~440 µs of CPU against ~110 µs for the bare node:http + pg server of `pnpm bench api` — 143 µs
 * in Effect's fiber runtime (the request fiber, middleware, response plumbing), ~40 µs more GC,
 * ~100 µs of the query in @effect/sql-pg (scope, connection acquisition, result handling) on top of
 * raw pg — and the API served 0.3–0.44× the bare server's reads. Here a read costs ~156 µs. This
 * answers the same request from the same state with neither: the same drain state (503), rate
 * limiter bucket (429, drawn before the token is checked, keyed by principal else address), token
 * check (401), statement on the SqlClient's own pool (PgPool) with the same row mapping (200) and
 * `UserNotFound` (404), error bodies from the same encoders and headers in the order the Effect
 * server writes them, a failed query logged and answered 500 as HotRoutes does. The app writes
 * no log line or metric per request (HttpServerLive), so there is none to repeat. It is a plain
 * function over services already built; what decides the answer lives in those services.
 *
 * Only an exact `GET /users/<uuid>` (no query string, so no escape for the parameter check to
 * refuse) is taken, and only when no OTLP endpoint is set: a traced server keeps its request spans,
 * so it serves everything through the app. Everything else falls through to the app, which
 * still answers this route too (HotRoutes; the router with a query string). The connection guard,
 * the start gate and the in-flight count are listeners of their own and see every request either
 * way. FastUserRead.test.ts checks that both ways answer byte for byte alike.
 */
export class FastUserRead extends Effect.Service<FastUserRead>()("@birthday/server/FastUserRead", {
  effect: Effect.gen(function*() {
    const pool = yield* PgPool
    const tokens = yield* ApiTokens
    const limiter = yield* RateLimiter
    const inFlight = yield* InFlightRequests
    const clock = yield* Effect.clock
    const { otlpEndpoint } = yield* TelemetryConfig
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const enabled = Option.isNone(otlpEndpoint)

    const fail = (response: ServerResponse, cause: unknown) => {
      const error = new SqlError.SqlError({ cause, message: "Failed to execute statement" })
      const answer = unexpectedRejection(error)
      if (answer.defect) runFork(Effect.logError("Unhandled request failure", Cause.die(error)))
      send(response, answer.status, answer.body, answer.headers)
    }

    /** Answers `request` and returns true when it is a read this path takes; false leaves it to the app. */
    const answer = (request: IncomingMessage, response: ServerResponse): boolean => {
      if (!enabled || request.method !== "GET") return false
      const match = userPath.exec(request.url ?? "")
      if (match === null) return false
      if (inFlight.isDraining()) {
        send(response, shuttingDown.status, shuttingDown.body, shuttingDown.headers)
        return true
      }
      const principal = tokens.principal(request.headers["authorization"])
      const retryAfter = limiter.take(
        callerKey(principal, Option.fromNullable(request.socket.remoteAddress)),
        clock.unsafeCurrentTimeMillis()
      )
      if (retryAfter !== 0) {
        const { body, headers, status } = rateLimited(retryAfter)
        send(response, status, body, headers)
        return true
      }
      if (tokens.enabled && Option.isNone(principal)) {
        const { body, status } = hotErrorAnswer(missingToken())
        send(response, status, body)
        return true
      }
      const id = match[1]!
      pool.query<UserRow>(liveUserStatement, [id]).then(
        ({ rows: [row] }) => {
          if (row !== undefined) return send(response, 200, userJsonFromRow(row))
          const { body, status } = hotErrorAnswer(UserNotFound.of(id))
          send(response, status, body)
        },
        (cause) => fail(response, cause)
      )
      return true
    }

    return { answer } as const
  })
}) {
  /**
   * `NodeHttpServer.layer` with this path in front of the app: the app's request listener, once
   * the app is served, is replaced by one that offers each request to `answer` first.
   */
  static readonly serverLayer = (server: Server, options: ListenOptions) =>
    Layer.scoped(
      HttpServer.HttpServer,
      Effect.gen(function*() {
        const fast = yield* FastUserRead
        const node = yield* NodeHttpServer.make(() => server, options)
        return HttpServer.make({
          address: node.address,
          serve: (app, middleware) =>
            Effect.gen(function*() {
              const before = server.listeners("request")
              yield* (middleware === undefined ? node.serve(app) : node.serve(app, middleware))
              const added = server.listeners("request").filter((listener) => !before.includes(listener))
              if (added.length !== 1) return yield* Effect.dieMessage("FastUserRead: the app's listener was not found")
              const app_ = added[0] as (request: IncomingMessage, response: ServerResponse) => void
              const front = (request: IncomingMessage, response: ServerResponse) => {
                if (!fast.answer(request, response)) app_(request, response)
              }
              server.removeListener("request", app_)
              server.on("request", front)
              yield* Effect.addFinalizer(() => Effect.sync(() => server.removeListener("request", front)))
            }) as Effect.Effect<void, never, Scope.Scope>
        })
      })
    ).pipe(Layer.merge(NodeHttpServer.layerContext))
}
