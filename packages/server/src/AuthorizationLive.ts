import { Authorization, Caller, Unauthorized } from "@birthday/domain"
import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import { ApiTokens } from "./ApiTokens.js"

const anonymous = Caller.of({ name: "anonymous" })
const unauthorized = () => new Unauthorized({ message: "A valid `Authorization: Bearer <token>` header is required" })

/**
 * Bearer auth against `API_TOKENS`; with no tokens configured every caller is `anonymous`. The
 * whole header is checked (scheme and token), not the text after its first seven characters.
 */
export const AuthorizationLive = Layer.effect(
  Authorization,
  Effect.gen(function*() {
    const tokens = yield* ApiTokens
    return Authorization.of({
      bearer: () =>
        Effect.gen(function*() {
          if (!tokens.enabled) return anonymous
          const request = yield* HttpServerRequest.HttpServerRequest
          const name = tokens.principal(request.headers["authorization"])
          if (Option.isNone(name)) return yield* Effect.fail(unauthorized())
          return Caller.of({ name: name.value })
        })
    })
  })
).pipe(Layer.provide(ApiTokens.Default))
