/**
 * A bare closed-loop load generator for `POST /send-email`: `concurrency` loops over one undici
 * pool, each sending its next request as soon as the previous one is answered. Bounded in count
 * and time, so it always stops by itself. Measures the simulator, not the delivery pipeline.
 */
import { Effect } from "effect"
import { Pool } from "undici"

/** How much load to send. */
export interface LoadOptions {
  /** e.g. `http://127.0.0.1:8025`; only loopback addresses belong here. */
  readonly baseUrl: string
  readonly concurrency: number
  /** Stop after this long... */
  readonly durationMs: number
  /** ...or after this many requests, whichever comes first. */
  readonly maxRequests: number
  /** Idempotency keys are `${keyPrefix}:${n}`, unique per request. */
  readonly keyPrefix: string
}

/** What the load achieved. */
export interface LoadResult {
  readonly requests: number
  readonly ok: number
  readonly notOk: number
  readonly errors: number
  readonly elapsedMs: number
  readonly perSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

const runLoad = async (options: LoadOptions): Promise<LoadResult> => {
  const pool = new Pool(options.baseUrl, { connections: options.concurrency, pipelining: 1 })
  const latencies = new Float64Array(options.maxRequests)
  let issued = 0
  let ok = 0
  let notOk = 0
  let errors = 0
  const started = performance.now()
  const deadline = started + options.durationMs
  const loop = async () => {
    while (issued < options.maxRequests && performance.now() < deadline) {
      const n = issued++
      const body = JSON.stringify({ email: `user${n}@example.com`, message: `Hey, User ${n} it's your birthday` })
      const sent = performance.now()
      try {
        const response = await pool.request({
          origin: options.baseUrl,
          path: "/send-email",
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": `${options.keyPrefix}:${n}` },
          body
        })
        await response.body.dump()
        if (response.statusCode === 200) ok++
        else notOk++
      } catch {
        errors++
      }
      latencies[n] = performance.now() - sent
    }
  }
  try {
    await Promise.all(Array.from({ length: options.concurrency }, loop))
  } finally {
    await pool.close()
  }
  const elapsedMs = performance.now() - started
  const sorted = latencies.subarray(0, issued).sort()
  return {
    requests: issued,
    ok,
    notOk,
    errors,
    elapsedMs,
    perSecond: issued / (elapsedMs / 1000),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99)
  }
}

/** Sends load as described by `options` and reports throughput and latency. */
export const run = (options: LoadOptions): Effect.Effect<LoadResult> => Effect.promise(() => runLoad(options))
