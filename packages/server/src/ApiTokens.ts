import { Effect, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { ServerSettings } from "./ServerSettings.js"

const digest = (token: string) => createHash("sha256").update(token).digest()

// RFC 6750 §2.1: `Bearer` (any case), one or more spaces, a b64token; nothing before or after.
const bearerHeader = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i

/**
 * The configured bearer tokens and who holds them. A presented token is hashed and compared with
 * every configured digest in constant time, so neither an early exit nor a string comparison
 * tells a client how much of a token it guessed.
 */
export class ApiTokens extends Effect.Service<ApiTokens>()("@birthday/server/ApiTokens", {
  effect: Effect.gen(function*() {
    const { apiTokens } = yield* ServerSettings
    const known = Redacted.value(apiTokens).map(({ name, token }) => ({ name, digest: digest(token) }))

    /** The label of the token in an `Authorization` header value; none when missing, malformed or unknown. */
    const principal = (header: string | undefined): Option.Option<string> => {
      if (known.length === 0 || header === undefined) return Option.none()
      const match = bearerHeader.exec(header)
      if (match === null) return Option.none()
      const presented = digest(match[1]!)
      let name: string | undefined
      for (const entry of known) if (timingSafeEqual(entry.digest, presented)) name = entry.name
      return Option.fromNullable(name)
    }

    return { enabled: known.length > 0, principal } as const
  })
}) {}
