import { HttpTraceContext } from "@effect/platform"
import { type Clock, Context, Data, Duration, Effect, Layer, type Tracer } from "effect"
import { type Dispatcher, Pool } from "undici"
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

/**
 * Maps a request failure to an outcome by whether the request had been written in full when it
 * failed. Before that (connect refused or timed out, DNS, a reset while writing) the provider
 * cannot have acted on it: transient, safe to retry. After it (no answer in time, the connection
 * reset or closed before the status line) the provider may have sent the email: ambiguous.
 */
export const classifyError = (error: unknown, requestSent: boolean): SendOutcome => {
  const code = (error as { code?: string } | null)?.code ?? ""
  const message = error instanceof Error ? error.message : String(error)
  const detail = code ? `${code}: ${message}` : message
  return requestSent
    ? SendOutcome.Ambiguous({ error: `no answer after the request was sent (${detail})` })
    : SendOutcome.Transient({ status: null, error: `not sent (${detail})` })
}

const decoder = new TextDecoder()

/**
 * One request's undici handler: it knows whether the request was written in full when a failure
 * came (`onRequestSent`), which `pool.request` does not tell. A 2xx body is drained, not read;
 * other bodies are kept up to 200 bytes for the error. Settles exactly once, never rejects.
 */
class SendHandler implements Dispatcher.DispatchHandler {
  private sent = false
  private status = 0
  private retryAfter: string | undefined = undefined
  private body = ""
  private settled = false

  constructor(
    private readonly resolve: (outcome: SendOutcome) => void,
    private readonly clock: Clock.Clock
  ) {}

  private settle(outcome: SendOutcome) {
    if (this.settled) return
    this.settled = true
    this.resolve(outcome)
  }

  onConnect() {}

  onRequestSent() {
    this.sent = true
  }

  onHeaders(statusCode: number, headers: Array<Buffer>) {
    this.status = statusCode
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.length === 11 && headers[i]!.toString("latin1").toLowerCase() === "retry-after") {
        this.retryAfter = headers[i + 1]!.toString("latin1")
      }
    }
    return true
  }

  onData(chunk: Buffer) {
    if (this.status >= 300 && this.body.length < 200) this.body += decoder.decode(chunk).slice(0, 200)
    return true
  }

  onComplete() {
    this.settle(this.outcome())
  }

  onError(error: Error) {
    // A status line received is the provider's answer, even if its body then broke off.
    this.settle(this.status > 0 ? this.outcome() : classifyError(error, this.sent))
  }

  private outcome() {
    return classifyStatus(
      this.status,
      this.body.slice(0, 200),
      () => parseRetryAfter(this.retryAfter, this.clock.unsafeCurrentTimeMillis())
    )
  }
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
      // Names this runner to the provider (and to the simulator's log, where a test tells the
      // last requests of a runner it killed from a resend).
      const userAgent = `birthday-scheduler (${settings.runnerId})`
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
      const request = (email: Email, trace: Record<string, string>): Promise<SendOutcome> =>
        new Promise((resolve) => {
          pool.dispatch(
            {
              path: url.pathname,
              method: "POST",
              headers: {
                "content-type": "application/json",
                "idempotency-key": email.key,
                "user-agent": userAgent,
                ...trace
              },
              body: JSON.stringify({ email: email.email, message: email.message })
            },
            new SendHandler(resolve, clock)
          )
        })
      const send = (email: Email, parent: Tracer.AnySpan | undefined) => {
        const span = spans.start("EmailClient.send", parent, "client", {
          "http.request.method": "POST",
          "url.full": fullUrl,
          "delivery.key": email.key
        })
        return request(email, HttpTraceContext.toHeaders(span)).then((outcome) => {
          spans.end(span, { outcome: outcome._tag })
          return outcome
        })
      }
      return { send }
    })
  )
}
