import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/** A command failed; `message` is the one line the operator sees. */
export class CliFailure extends Data.TaggedError("CliFailure")<{ readonly message: string }> {}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim()

/** The first system error code (`ECONNREFUSED`, `ENOTFOUND`, …) in a cause chain. */
const systemCode = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 6; depth++) {
    if (Predicate.hasProperty(current, "code") && typeof current.code === "string") return current.code
    if (Predicate.hasProperty(current, "errors") && Array.isArray(current.errors)) {
      const inner = current.errors.map(systemCode).find((code) => code !== undefined)
      if (inner !== undefined) return inner
    }
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  return undefined
}

/**
 * One line for any failure of an API call: the server's message for its typed errors (4xx bodies),
 * the URL tried when the server cannot be reached, the status otherwise.
 */
export const describeFailure = (error: unknown, baseUrl: string): string => {
  if (Predicate.isTagged(error, "RequestError")) {
    const code = systemCode(error)
    return code === "ECONNREFUSED"
      ? `cannot connect to ${baseUrl}: connection refused (is the server running?)`
      : `cannot reach ${baseUrl}: ${code ?? oneLine(String((error as { message?: unknown }).message))}`
  }
  if (Predicate.isTagged(error, "ResponseError") && Predicate.hasProperty(error, "response")) {
    const { request, status } = error.response as { status: number; request: { method: string; url: string } }
    return `server answered HTTP ${status} to ${request.method} ${request.url}`
  }
  if (Predicate.isTagged(error, "ParseError")) {
    return `unexpected response from ${baseUrl}: ${oneLine(String((error as { message?: unknown }).message))}`
  }
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message.length > 0) {
    return oneLine(error.message)
  }
  return oneLine(String(error))
}
