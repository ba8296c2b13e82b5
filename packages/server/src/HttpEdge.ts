import { FieldIssue, ValidationError } from "@birthday/domain"
import { HttpApiBuilder, type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect } from "effect"
import { fieldIssuesOf } from "./FieldIssues.js"

// Control characters (NUL above all: Postgres refuses it in text) have no place in a path or a
// query parameter; a percent-escape of one is what to look for before decoding anything.
const escapedControl = /%(?:[01][0-9a-f]|7f)/i
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const control = /[\u0000-\u001f\u007f]/

const validationResponse = (error: ValidationError) =>
  HttpServerResponse.unsafeJson({ _tag: error._tag, message: error.message, fields: error.fields }, { status: 400 })

/** The path segment or query parameter holding a control character, if any. */
const controlCharacterIn = (url: string): FieldIssue | undefined => {
  const [path = "", query = ""] = url.split("?", 2)
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text.replaceAll("+", " "))
    } catch {
      return text
    }
  }
  if (control.test(decode(path))) {
    return new FieldIssue({ field: "path", reason: "must not contain control characters" })
  }
  for (const pair of query.split("&")) {
    const [name = "", value = ""] = pair.split("=", 2)
    if (control.test(decode(value)) || control.test(decode(name))) {
      return new FieldIssue({
        field: decode(name).replace(control, "?").slice(0, 64) || "query",
        reason: "must not contain control characters"
      })
    }
  }
  return undefined
}

/** Answers 400 naming the parameter when a path or query carries a control character. */
export const refuseControlCharacters = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    if (!escapedControl.test(request.url)) return app
    const issue = controlCharacterIn(request.url)
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
      return Effect.fail(ValidationError.fromIssues(fieldIssuesOf(error.issues, "request")))
    }
    if (error?._tag === "RouteNotFound") {
      return Effect.succeed(HttpServerResponse.unsafeJson({
        _tag: "RouteNotFound",
        message: `No route ${request.method.slice(0, 16)} ${request.url.split("?")[0]!.slice(0, 200)}`
      }, { status: 404 }))
    }
    if (failure._tag === "Some" || Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    return Effect.logError("Unhandled request failure", cause).pipe(
      Effect.as(HttpServerResponse.unsafeJson({ _tag: "InternalError", message: "Internal server error" }, {
        status: 500
      }))
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
