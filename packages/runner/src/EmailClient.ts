import { HttpTraceContext } from "@effect/platform"
import { Context, Data, Duration, Effect, Layer, type Tracer } from "effect"
import { Pool } from "undici"
import { DeliverySettings } from "./DeliveryConfig.js"
import { fiberlessSpans } from "./FiberlessSpans.js"

/** How one provider call ended, as the ledger and the retry policy see it. */
export type SendOutcome = Data.TaggedEnum<{
  /** 2xx: the provider accepted the message. */
  Sent: { readonly status: number }
  /** 4xx other than 408/429: retrying cannot help. */
  Permanent: { readonly status: number; readonly error: string }
  /** 5xx, 408 or a connection failure before the request was sent. */
  Transient: { readonly status: number | null; readonly error: string }
  /** 429: try again after `retryAfter`. */
  RateLimited: { readonly retryAfter: Duration.Duration; readonly error: string }
  /** No answer in time after the request was sent: it may or may not have been delivered. */
  Ambiguous: { readonly error: string }
}>
export const SendOutcome = Data.taggedEnum<SendOutcome>()

/** One email to send: the occurrence key doubles as the provider's `Idempotency-Key`. */
export interface Email {
  readonly key: string
  readonly email: string
  readonly message: string
}

const afterSendCodes = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"])

/** Reads `Retry-After` as seconds or an HTTP date; a missing or bad value means one second. */
export const parseRetryAfter = (value: string | Array<string> | undefined, now: number): Duration.Duration => {
  const raw = Array.isArray(value) ? value[0] : value
  if (raw === undefined || raw.trim() === "") return Duration.seconds(1)
  const seconds = Number(raw)
  if (Number.isFinite(seconds)) return Duration.seconds(Math.max(0, seconds))
  const at = Date.parse(raw)
  return Number.isFinite(at) ? Duration.millis(Math.max(0, at - now)) : Duration.seconds(1)
}

/** Maps an HTTP status to an outcome. */
export const classifyStatus = (
  status: number,
  body: string,
  retryAfter: () => Duration.Duration
): SendOutcome =>
  status >= 200 && status < 300
    ? SendOutcome.Sent({ status })
    : status === 429
    ? SendOutcome.RateLimited({ retryAfter: retryAfter(), error: `HTTP 429 ${body}`.trim() })
    : status === 408 || status >= 500
    ? SendOutcome.Transient({ status, error: `HTTP ${status} ${body}`.trim() })
    : SendOutcome.Permanent({ status, error: `HTTP ${status} ${body}`.trim() })

/** Maps a request failure to an outcome: a timeout after sending is ambiguous, the rest transient. */
export const classifyError = (error: unknown): SendOutcome => {
  const code = (error as { code?: string } | null)?.code ?? ""
  const message = error instanceof Error ? error.message : String(error)
  return afterSendCodes.has(code)
    ? SendOutcome.Ambiguous({ error: `${code}: ${message}` })
    : SendOutcome.Transient({ status: null, error: code ? `${code}: ${message}` : message })
}

/** The provider's `POST /send-email`, over a keep-alive undici pool. */
export class EmailClient extends Context.Tag("@birthday/runner/EmailClient")<EmailClient, {
  /**
   * Sends one email under an `EmailClient.send` span (a child of `parent`, its trace context in
   * the request headers). A promise, not an effect: the send path makes no fiber per message. It
   * never rejects: every result, including network errors, is a `SendOutcome`.
   */
  readonly send: (email: Email, parent: Tracer.AnySpan | undefined) => Promise<SendOutcome>
}>() {
  static readonly layer = Layer.scoped(
    EmailClient,
    Effect.gen(function*() {
      const settings = yield* DeliverySettings
      const spans = yield* fiberlessSpans
      const clock = yield* Effect.clock
      const url = new URL(
        "send-email",
        settings.emailServiceUrl.endsWith("/") ? settings.emailServiceUrl : `${settings.emailServiceUrl}/`
      )
      const fullUrl = url.toString()
      const timeout = Duration.toMillis(settings.requestTimeout)
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new Pool(url.origin, {
            // A request queued inside the pool would pass the breaker now and reach the provider
            // later (maybe while the circuit is open): one connection per request in flight.
            connections: Math.max(settings.connections, settings.concurrency),
            pipelining: 1,
            headersTimeout: timeout,
            bodyTimeout: timeout,
            connectTimeout: timeout,
            keepAliveTimeout: 30_000
          })
        ),
        (pool) => Effect.promise(() => pool.destroy().catch(() => undefined))
      )
      // No abort signal: an AbortController per request cost more than the request itself here.
      // Timeouts are undici's; shutdown destroys the pool, which ends whatever is still in flight.
      const request = async (email: Email, trace: Record<string, string>): Promise<SendOutcome> => {
        const response = await pool.request({
          path: url.pathname,
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": email.key, ...trace },
          body: JSON.stringify({ email: email.email, message: email.message })
        })
        let body = ""
        // A success's body is never read: drain it without decoding (the connection is reused).
        if (response.statusCode >= 200 && response.statusCode < 300) await response.body.dump()
        else body = (await response.body.text()).slice(0, 200)
        return classifyStatus(
          response.statusCode,
          body,
          () => parseRetryAfter(response.headers["retry-after"], clock.unsafeCurrentTimeMillis())
        )
      }
      const send = (email: Email, parent: Tracer.AnySpan | undefined) => {
        const span = spans.start("EmailClient.send", parent, "client", {
          "http.request.method": "POST",
          "url.full": fullUrl,
          "delivery.key": email.key
        })
        return request(email, HttpTraceContext.toHeaders(span)).catch(classifyError).then((outcome) => {
          spans.end(span, { outcome: outcome._tag })
          return outcome
        })
      }
      return { send }
    })
  )
}
