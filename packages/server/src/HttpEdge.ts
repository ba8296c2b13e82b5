import { FieldIssue, ValidationError } from "@birthday/domain"
import { HttpApiBuilder, type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect } from "effect"
import { fieldIssuesOf } from "./FieldIssues.js"
import { unexpectedFailure } from "./UnexpectedFailure.js"

// Control characters (NUL above all: Postgres refuses it in text; C1 too, U+009B is an 8-bit CSI
// a terminal acts on, as JSON bodies and FieldName already have it) have no place in a path or a
// query parameter, nor do escapes that are not UTF-8 (`%ED%A0%80` is half a surrogate pair,
// `%C0%80` an overlong NUL): a percent-escape of a control or non-ASCII byte is what to look for
// before decoding anything.
const suspectEscape = /%(?:[01][0-9a-f]|7f|[89a-f][0-9a-f])/i
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const control = /[\u0000-\u001f\u007f-\u009f]/

const validationResponse = (error: ValidationError) =>
  HttpServerResponse.unsafeJson({ _tag: error._tag, message: error.message, fields: error.fields }, { status: 400 })

/**
 * At most `max` characters of what a client sent, printable ASCII only, marked when cut: enough
 * to recognise a request in an error, never an echo of a 3,000-character path.
 */
const shortPrintable = (text: string, max: number): string => {
  const printable = text.replace(/[^\x21-\x7e]/g, "?")
  return printable.length > max ? `${printable.slice(0, max)}…` : printable
}

/** The decoded text, or undefined when its escapes are not UTF-8 (a lone `%` is left as it is). */
const decode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text.replaceAll("+", " ").replace(/%(?![0-9a-f]{2})/gi, "%25"))
  } catch {
    return undefined
  }
}

const problemWith = (text: string): string | undefined => {
  const decoded = decode(text)
  if (decoded === undefined) return "must be percent-encoded UTF-8"
  return control.test(decoded) ? "must not contain control characters" : undefined
}

/** The path or the query parameter holding a control character or an escape that is not UTF-8. */
const unreadableParameterIn = (url: string): FieldIssue | undefined => {
  const [path = "", query = ""] = url.split("?", 2)
  const inPath = problemWith(path)
  if (inPath !== undefined) return new FieldIssue({ field: "path", reason: inPath })
  for (const pair of query.split("&")) {
    const [name = "", value = ""] = pair.split("=", 2)
    const reason = problemWith(name) ?? problemWith(value)
    if (reason !== undefined) {
      const field = shortPrintable(decode(name) ?? "", 64)
      return new FieldIssue({ field: field || "query", reason })
    }
  }
  return undefined
}

/** Answers 400 naming the parameter when a path or query carries a control character or bad UTF-8. */
export const refuseUnreadableParameters = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    if (!suspectEscape.test(request.url)) return app
    const issue = unreadableParameterIn(request.url)
    return issue === undefined ? app : Effect.succeed(validationResponse(ValidationError.fromIssues([issue])))
  })

type DecodeIssues = Parameters<typeof fieldIssuesOf>[0]

const unhandled = (cause: Cause.Cause<unknown>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const failure = Cause.failureOption(cause)
    const error = (failure._tag === "Some" ? failure.value : undefined) as
      | { readonly _tag?: string; readonly issues?: DecodeIssues }
      | undefined
    if (error?._tag === "HttpApiDecodeError" && error.issues !== undefined) {
      // The API's error schema encodes ValidationError (400) like the handlers' own.
      const { issues, omitted } = fieldIssuesOf(error.issues, "request")
      return Effect.fail(ValidationError.fromIssues(issues, omitted))
    }
    if (error?._tag === "RouteNotFound") {
      return Effect.succeed(HttpServerResponse.unsafeJson({
        _tag: "RouteNotFound",
        message: `No route ${shortPrintable(request.method, 16)} ${shortPrintable(request.url.split("?")[0]!, 64)}`
      }, { status: 404 }))
    }
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const answer = unexpectedFailure(cause)
    // The API's own errors are encoded by the API; a busy database and defects are answered here.
    if (answer.defect && failure._tag === "Some") return Effect.failCause(cause)
    return (answer.defect ? Effect.logError("Unhandled request failure", cause) : Effect.void).pipe(
      Effect.as(HttpServerResponse.unsafeJson(answer.body, { status: answer.status, headers: answer.headers }))
    )
  })

/**
 * Errors in the API's one JSON shape for what the handlers do not answer themselves: the
 * framework's decode errors (a bad path, query, header or payload) become `ValidationError`s
 * naming each field instead of `HttpApiDecodeError` with a schema dump, an unknown route is a
 * 404 `RouteNotFound` (it was an empty 404), and a defect a logged 500 `InternalError`. It wraps
 * the router, inside the API's error encoding (the server's own middleware sees only responses).
 */
export const ApiErrorResponses = HttpApiBuilder.middleware((app) => Effect.catchAllCause(app, unhandled) as typeof app)
