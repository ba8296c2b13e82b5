/**
 * The read and admin endpoints: what the simulator received, its counters and request log, and
 * run-time control of the faults. Not a hot path; clarity over speed.
 */
import { Either, ParseResult, Schema } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import * as FaultPlan from "./FaultPlan.js"
import { parseJson, readBody, sendJson } from "./internal/HttpExchange.js"
import { parsePageQuery } from "./Page.js"
import type { SimulatorState } from "./SimulatorState.js"

const decodePatch = Schema.decodeUnknownEither(FaultPlan.FaultPatch, { onExcessProperty: "error" })
const decodeOutage = Schema.decodeUnknownEither(FaultPlan.OutagePatch, { onExcessProperty: "error" })

/** Decodes a JSON body with `decode` and hands the value on, or answers 400. */
const withBody = <A>(
  req: IncomingMessage,
  res: ServerResponse,
  decode: (u: unknown) => Either.Either<A, ParseResult.ParseError>,
  use: (value: A) => void
): void =>
  readBody(req, (text) => {
    // An empty body means "no fields", e.g. `POST /admin/outage` with nothing: until further notice.
    const body = text !== undefined && text.trim().length === 0 ? {} : parseJson(text)
    const decoded = decode(body)
    if (Either.isLeft(decoded)) {
      return sendJson(res, 400, {
        error: "bad_request",
        message: body === undefined
          ? "malformed JSON"
          : ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
            .map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`)
            .join("; ")
      })
    }
    use(decoded.right)
  })

/** Answers an admin or read request; `false` when no route matches the path. */
export const handleAdmin = (
  state: SimulatorState,
  abortInFlight: () => void,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: string
): boolean => {
  const method = req.method ?? "GET"
  const route = `${method} ${path}`
  switch (route) {
    case "GET /health":
      sendJson(res, 200, { status: "ok" })
      return true
    case "GET /stats":
      sendJson(res, 200, state.stats())
      return true
    case "GET /messages": {
      const page = state.ledger.page(parsePageQuery(new URLSearchParams(query)))
      sendJson(res, 200, { messages: page.items, next: page.next, total: state.ledger.size })
      return true
    }
    case "GET /log": {
      const page = state.log.page(parsePageQuery(new URLSearchParams(query)))
      sendJson(res, 200, { entries: page.items, next: page.next })
      return true
    }
    case "POST /admin/reset":
      abortInFlight()
      state.reset()
      sendJson(res, 200, state.settings())
      return true
    case "GET /admin/config":
      sendJson(res, 200, state.settings())
      return true
    case "PUT /admin/config":
    case "POST /admin/config":
    case "PATCH /admin/config":
      withBody(req, res, decodePatch, (patch) => {
        state.configure(patch)
        sendJson(res, 200, state.settings())
      })
      return true
    case "POST /admin/outage":
      withBody(req, res, decodeOutage, (outage) => {
        state.configure({ outage })
        sendJson(res, 200, state.settings())
      })
      return true
    case "DELETE /admin/outage":
      state.configure({ outage: { off: true } })
      sendJson(res, 200, state.settings())
      return true
    default:
      return false
  }
}
