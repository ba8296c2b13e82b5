import { HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Layer, Option } from "effect"
import { ApiTokens } from "./ApiTokens.js"
import { addressKey } from "./ClientAddress.js"
import { ServerSettings } from "./ServerSettings.js"

interface Bucket {
  tokens: number
  updatedAt: number
}

/**
 * The probes, which must stay reachable however busy a caller is; by exact path, so that nothing
 * else (`/health-xyz`, the 2 MB `/docs`) rides on their exemption.
 */
const probes = new Set(["/health/live", "/health/ready"])
const exempt = (url: string) => probes.has(url.split("?", 1)[0]!)

/**
 * A token bucket per caller, in this process's memory: the authenticated principal (a token's
 * label), else the client address — so spelling a token differently, sending junk tokens or
 * failing authentication all draw from the address's bucket. At most `RATE_LIMIT_CALLERS`
 * buckets are kept; the least recently used one is forgotten first (a forgotten bucket is a
 * full one, so only the idlest caller gains anything).
 */
export class RateLimiter extends Effect.Service<RateLimiter>()("@birthday/server/RateLimiter", {
  effect: Effect.gen(function*() {
    const { rateLimitBurst, rateLimitCallers, rateLimitPerSecond } = yield* ServerSettings
    // A Map iterates in insertion order: re-inserting on use keeps it ordered least recent first.
    const buckets = new Map<string, Bucket>()

    /** Takes one token for `key`; returns 0 when allowed, else the seconds until one is available. */
    const take = (key: string, now: number): number => {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        bucket = { tokens: rateLimitBurst, updatedAt: now }
        if (buckets.size >= rateLimitCallers) buckets.delete(buckets.keys().next().value!)
      } else buckets.delete(key)
      buckets.set(key, bucket)
      bucket.tokens = Math.min(rateLimitBurst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rateLimitPerSecond)
      bucket.updatedAt = now
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return 0
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / rateLimitPerSecond))
    }
    return { take, size: () => buckets.size } as const
  })
}) {
  /** Without a configured limit the layer still exists but never refuses. */
  static readonly layer = Layer.provide(RateLimiter.Default, ServerSettings.layer)
}

/**
 * The bucket a request draws from: its token's principal, else its address grouped as
 * ConnectionGuard groups it (an IPv6 /64 is one caller: a host given one could otherwise take a
 * fresh bucket per request).
 */
export const callerKey = (principal: Option.Option<string>, remoteAddress: Option.Option<string>): string =>
  Option.isSome(principal) ? `p:${principal.value}` : `a:${addressKey(Option.getOrUndefined(remoteAddress))}`

/** The 429 answer to a caller past its rate (also given by FastUserRead). */
export const rateLimited = (retryAfter: number) => ({
  status: 429,
  body: {
    _tag: "RateLimited",
    message: `Rate limit exceeded; retry after ${retryAfter} s`,
    retryAfterSeconds: retryAfter
  },
  headers: { "retry-after": String(retryAfter) }
})

/** Answers 429 with `Retry-After` when a caller exceeds its rate. */
export const rateLimitMiddleware = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (exempt(request.url)) return yield* app
    const limiter = yield* RateLimiter
    const tokens = yield* ApiTokens
    const retryAfter = limiter.take(
      callerKey(tokens.principal(request.headers["authorization"]), request.remoteAddress),
      yield* Clock.currentTimeMillis
    )
    if (retryAfter === 0) return yield* app
    const { body, headers, status } = rateLimited(retryAfter)
    return yield* HttpServerResponse.json(body, { status, headers }).pipe(Effect.orDie)
  })
