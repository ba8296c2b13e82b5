/**
 * `POST /send-email`: the provider's one real endpoint, with faults and `Idempotency-Key`.
 *
 * Idempotency rules:
 * - Faults are decided first and apply to every request, repeats included: a provider in an
 *   outage does not look at keys.
 * - A request is acknowledged only when its 200 is written. The first 200 for a key stores the
 *   message; any later one (even one that was racing it during the latency delay) answers
 *   200 `{ duplicate: true }` with the first message's id and is not stored or counted again.
 * - An attempt that failed, hung, was rate limited or rejected by an outage acknowledged nothing,
 *   so the next request with that key is simply a new attempt. Every attempt is counted on the key.
 * - A request whose client has gone before its 200 would be written is `abandoned`, not stored.
 * - The body of a repeat is not compared with the first: the key alone identifies the message.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Decision } from "./FaultPlan.js"
import { clientGone, parseJson, readBody, sendJson } from "./internal/HttpExchange.js"
import { messageId } from "./MessageLedger.js"
import type { SimulatorState } from "./SimulatorState.js"

/** Answers that are still pending (delayed or hung), so reset and shutdown can cut them off. */
export type InFlight = Set<ServerResponse>

const validEmail = /^[^\s@]+@[^\s@]+$/

const readRequest = (body: unknown): { email: string; message: string } | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const { email, message } = body as Record<string, unknown>
  if (typeof email !== "string" || !validEmail.test(email)) return undefined
  if (typeof message !== "string" || message.length === 0) return undefined
  return { email, message }
}

/** Handles one `POST /send-email`. */
export const handleSendEmail = (
  state: SimulatorState,
  inFlight: InFlight,
  req: IncomingMessage,
  res: ServerResponse
): void => {
  const at = state.now()
  state.counters.received++
  const header = req.headers["idempotency-key"]
  const key = typeof header === "string" && header.length > 0 ? header : null
  // Who sent it (the client's User-Agent): a test tells a crashed sender's last requests apart.
  const agent = req.headers["user-agent"]
  const from = { key, sender: typeof agent === "string" && agent.length > 0 ? agent.slice(0, 200) : null }
  readBody(req, (text) => {
    const parsed = readRequest(parseJson(text))
    if (parsed === undefined) {
      state.counters.badRequest++
      state.settled(at, from, "badRequest")
      state.answered(400)
      return sendJson(res, 400, {
        error: "bad_request",
        message: "expected a JSON body { \"email\": string, \"message\": string }"
      })
    }
    if (key !== null) state.ledger.noteAttempt(key)
    const decision = state.decide(at, inFlight.size)
    switch (decision._tag) {
      case "Outage": {
        state.counters.outageRejected++
        state.settled(at, from, "outage")
        state.answered(503)
        return sendJson(res, 503, { error: "service_unavailable", message: "provider outage" })
      }
      case "Hung": {
        state.counters.hung++
        state.settled(at, from, "hung")
        inFlight.add(res)
        res.on("close", () => inFlight.delete(res))
        if (decision.answerAfterMs > 0) {
          const epoch = state.epoch
          setTimeout(() => {
            if (clientGone(res)) return
            if (state.epoch === epoch) state.answered(504)
            sendJson(res, 504, { error: "gateway_timeout", message: "provider timed out" })
          }, decision.answerAfterMs)
        }
        return
      }
      default: {
        if (decision.delayMs === 0) return answer(state, res, at, from, parsed, decision)
        const epoch = state.epoch
        inFlight.add(res)
        setTimeout(() => {
          inFlight.delete(res)
          // After a reset the state this request belonged to is gone: answer, record nothing.
          if (state.epoch !== epoch) return clientGone(res) ? undefined : sendJson(res, 503, { error: "reset" })
          answer(state, res, at, from, parsed, decision)
        }, decision.delayMs)
      }
    }
  })
}

const answer = (
  state: SimulatorState,
  res: ServerResponse,
  at: number,
  from: { readonly key: string | null; readonly sender: string | null },
  request: { email: string; message: string },
  decision: Exclude<Decision, { readonly _tag: "Outage" | "Hung" }>
): void => {
  const { key } = from
  switch (decision._tag) {
    case "RateLimited": {
      state.counters.rateLimited++
      state.settled(at, from, "rateLimited")
      state.answered(429)
      return sendJson(res, 429, { error: "rate_limited", message: "too many requests" }, {
        "retry-after": String(decision.retryAfterSeconds)
      })
    }
    case "Failed": {
      state.counters.failed++
      state.settled(at, from, "failed")
      state.answered(decision.status)
      return sendJson(res, decision.status, { error: "provider_error", message: "random provider failure" })
    }
    case "Deliver": {
      if (clientGone(res)) {
        state.counters.abandoned++
        state.settled(at, from, "abandoned")
        return
      }
      const earlier = key === null ? undefined : state.ledger.acknowledgedSeq(key)
      state.answered(200)
      if (earlier !== undefined) {
        state.counters.duplicatesRefused++
        state.settled(at, from, "duplicate")
        return sendJson(res, 200, { status: "sent", id: messageId(earlier), duplicate: true })
      }
      const seq = state.ledger.acknowledge(key, request.email, request.message, at)
      state.settled(at, from, "acknowledged")
      return sendJson(res, 200, { status: "sent", id: messageId(seq) })
    }
  }
}
