import {
  EmailTaken,
  IdempotencyKeyReused,
  MalformedJson,
  PayloadTooLarge,
  Unauthorized,
  UserNotFound,
  ValidationError
} from "@birthday/domain"
import { HttpApiSchema, type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Option, Schema } from "effect"
import { ApiTokens } from "./ApiTokens.js"
import { readJsonBody } from "./RequestBody.js"
import { ServerSettings } from "./ServerSettings.js"
import { unexpectedFailure } from "./UnexpectedFailure.js"
import { UserService } from "./UserService.js"

const errors = [
  ValidationError,
  MalformedJson,
  PayloadTooLarge,
  EmailTaken,
  IdempotencyKeyReused,
  UserNotFound,
  Unauthorized
]
type HotError = InstanceType<(typeof errors)[number]>
const encodeError = Schema.encodeSync(Schema.Union(...errors))
const statusOf: Record<string, number> = Object.fromEntries(
  errors.map((error) => [error._tag, HttpApiSchema.getStatusError(error)])
)

/** A hot route's error as its status and the JSON its schema encodes (FastUserRead answers with it too). */
export const hotErrorAnswer = (error: HotError) => ({ status: statusOf[error._tag] ?? 400, body: encodeError(error) })

/** What a request without a valid token is told when tokens are set. */
export const missingToken = () =>
  new Unauthorized({ message: "A valid `Authorization: Bearer <token>` header is required" })

/** `/users/{id}` with a UUID (any case) and nothing after it: a query string goes to the router. */
export const userPath = /^\/users\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i

/**
 * The two requests integrators send most, `GET /users/{id}` and `POST /users`, answered without
 * the HttpApi router and its per-request plumbing (route lookup, API middleware, security
 * wrapper, path decode, success encoding), which cost more than the request itself. Everything
 * that decides the answer is shared with the routed endpoints: the same `UserService` calls, the
 * same token check as `Authorization`, the same body reader, the errors encoded by their own
 * schemas with their own statuses. The server's middleware (drain, rate limit, control
 * characters) runs before this, as for every request. Anything else — another method, a query
 * string, an id that is not a UUID — goes to the router; the routed endpoints remain (and
 * define the OpenAPI document). HotRoutes.test.ts checks both ways answer alike. On a server
 * without an OTLP endpoint, FastUserRead answers `GET /users/{id}` before the app sees it; the
 * read here then serves only a traced server.
 */
export class HotRoutes extends Effect.Service<HotRoutes>()("@birthday/server/HotRoutes", {
  effect: Effect.gen(function*() {
    const users = yield* UserService
    const tokens = yield* ApiTokens
    const { maxBodyBytes } = yield* ServerSettings

    const callerOf = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<string, Unauthorized> => {
      if (!tokens.enabled) return Effect.succeed("anonymous")
      const name = tokens.principal(request.headers["authorization"])
      return Option.isSome(name)
        ? Effect.succeed(name.value)
        : Effect.fail(missingToken())
    }

    const answer = <R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, HotError, R>) =>
      Effect.catchAllCause(effect, (cause) => {
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure)) {
          const { body, status } = hotErrorAnswer(failure.value)
          return Effect.succeed(HttpServerResponse.unsafeJson(body, { status }))
        }
        const unexpected = unexpectedFailure(cause)
        return (unexpected.defect ? Effect.logError("Unhandled request failure", cause) : Effect.void).pipe(
          Effect.as(HttpServerResponse.unsafeJson(unexpected.body, {
            status: unexpected.status,
            headers: unexpected.headers
          }))
        )
      })

    const get = (request: HttpServerRequest.HttpServerRequest, id: string) =>
      answer(Effect.gen(function*() {
        yield* callerOf(request)
        return HttpServerResponse.unsafeJson(yield* users.get(id))
      }))

    const create = (request: HttpServerRequest.HttpServerRequest) =>
      answer(Effect.gen(function*() {
        const caller = yield* callerOf(request)
        const body = yield* readJsonBody(request, maxBodyBytes)
        const key = request.headers["idempotency-key"]
        const user = yield* users.create(body, caller, Option.fromNullable(key))
        return HttpServerResponse.unsafeJson(user, { status: 201 })
      }))

    /** Serves the hot requests itself and hands every other one to `app`. */
    const serve = <E, R>(app: HttpApp.Default<E, R>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        if (request.method === "GET") {
          const match = userPath.exec(request.url)
          if (match !== null) return get(request, match[1]!)
        } else if (request.method === "POST" && request.url === "/users") return create(request)
        return app
      })

    return { serve } as const
  }),
  dependencies: [ApiTokens.Default]
}) {}

/** `HotRoutes.serve` as a server middleware. */
export const hotRoutesMiddleware = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.flatMap(HotRoutes, (hot) => hot.serve(app))
