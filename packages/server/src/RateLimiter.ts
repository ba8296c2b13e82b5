import { HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Layer } from "effect"
import { createHash } from "node:crypto"
import { ServerSettings } from "./ServerSettings.js"

interface Bucket {
  tokens: number
  updatedAt: number
}

/** Paths that stay reachable however busy a caller is (probes, docs). */
const exempt = (url: string) =>
  url.startsWith("/health") || url.startsWith("/docs") || url === "/openapi.json" || url === "/metrics"

/** A token bucket per caller (bearer token, else client address), in this process's memory. */
export class RateLimiter extends Effect.Service<RateLimiter>()("@birthday/server/RateLimiter", {
  effect: Effect.gen(function*() {
    const { rateLimitBurst, rateLimitPerSecond } = yield* ServerSettings
    const buckets = new Map<string, Bucket>()

    /** Takes one token for `key`; returns 0 when allowed, else the seconds until one is available. */
    const take = (key: string, now: number): number => {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        // Callers are few (tokens) or transient (addresses); forget idle ones rather than grow.
        if (buckets.size > 10_000) buckets.clear()
        bucket = { tokens: rateLimitBurst, updatedAt: now }
        buckets.set(key, bucket)
      }
      bucket.tokens = Math.min(rateLimitBurst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rateLimitPerSecond)
      bucket.updatedAt = now
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return 0
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / rateLimitPerSecond))
    }
    return { take } as const
  })
}) {
  /** Without a configured limit the layer still exists but never refuses. */
  static readonly layer = Layer.provide(RateLimiter.Default, ServerSettings.layer)
}

const callerKey = (request: HttpServerRequest.HttpServerRequest): string => {
  const auth = request.headers["authorization"]
  if (auth !== undefined && auth.length > 0) return `t:${createHash("sha256").update(auth).digest("base64url")}`
  return `a:${request.remoteAddress._tag === "Some" ? request.remoteAddress.value : "unknown"}`
}

/** Answers 429 with `Retry-After` when a caller exceeds its rate. */
export const rateLimitMiddleware = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (exempt(request.url)) return yield* app
    const limiter = yield* RateLimiter
    const retryAfter = limiter.take(callerKey(request), yield* Clock.currentTimeMillis)
    if (retryAfter === 0) return yield* app
    return yield* HttpServerResponse.json(
      {
        _tag: "RateLimited",
        message: `Rate limit exceeded; retry after ${retryAfter} s`,
        retryAfterSeconds: retryAfter
      },
      { status: 429, headers: { "retry-after": String(retryAfter) } }
    ).pipe(Effect.orDie)
  })
