import { Authorization, Caller, Unauthorized } from "@birthday/domain"
import { Effect, Layer, Redacted } from "effect"
import { ServerSettings } from "./ServerSettings.js"

/** Bearer auth against `API_TOKENS`; with no tokens configured every caller is `anonymous`. */
export const AuthorizationLive = Layer.effect(
  Authorization,
  Effect.gen(function*() {
    const { apiTokens } = yield* ServerSettings
    const tokens = Redacted.value(apiTokens)
    const anonymous = Caller.of({ name: "anonymous" })
    return Authorization.of({
      bearer: (token) =>
        Effect.gen(function*() {
          if (tokens.size === 0) return anonymous
          const name = tokens.get(Redacted.value(token))
          if (name === undefined) {
            return yield* new Unauthorized({ message: "A valid `Authorization: Bearer <token>` header is required" })
          }
          yield* Effect.annotateCurrentSpan("caller", name)
          return Caller.of({ name })
        })
    })
  })
)
