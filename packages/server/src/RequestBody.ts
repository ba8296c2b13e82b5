import { FieldIssue, hasLoneSurrogate, MalformedJson, PayloadTooLarge, ValidationError } from "@birthday/domain"
import type { HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect } from "effect"
import { isUtf8 } from "node:buffer"
import { fieldName } from "./FieldName.js"

/** JSON nested deeper than this is refused before anything walks it (formatters recurse). */
export const maxJsonDepth = 32

const tooLarge = (limitBytes: number) =>
  new PayloadTooLarge({ message: `Request body exceeds ${limitBytes} bytes`, limitBytes })

/**
 * Reads the raw body, counting bytes as they arrive: a chunked or mis-declared body is cut off
 * at the limit instead of being read in full first. What follows a refusal (the rest of the
 * body, read and discarded within bounds, then maybe a close) is ConnectionGuard's.
 */
const readText = (request: HttpServerRequest.HttpServerRequest, limitBytes: number) =>
  Effect.async<string, PayloadTooLarge | MalformedJson>((resume) => {
    const declared = request.headers["content-length"]
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    // No `Connection: close`: Node would close right after the answer with the body unread, and
    // the reset that sends made clients that write before they read lose the 413.
    const refuse = () => resume(Effect.fail(tooLarge(limitBytes)))
    if (declared !== undefined && Number(declared) > limitBytes) return refuse()
    if (incoming.readableEnded) return resume(Effect.succeed(""))
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limitBytes) {
        cleanup()
        incoming.pause()
        return refuse()
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      const body = Buffer.concat(chunks, size)
      // Decoding would turn each invalid byte into U+FFFD, silently stored in a name.
      if (!isUtf8(body)) return resume(Effect.fail(new MalformedJson({ message: "Request body is not valid UTF-8" })))
      resume(Effect.succeed(body.toString("utf8")))
    }
    const onError = () => {
      cleanup()
      resume(Effect.fail(new MalformedJson({ message: "The request body was cut off" })))
    }
    const cleanup = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onError)
    }
    incoming.on("data", onData)
    incoming.on("end", onEnd)
    incoming.on("error", onError)
    return Effect.sync(cleanup)
  })

/** The nesting depth of a parsed JSON value, walked without recursion; stops past `limit`. */
const depthExceeds = (value: unknown, limit: number): boolean => {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (typeof current !== "object" || current === null) continue
    if (depth > limit) return true
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}

/**
 * Where the parser gave up, never what it read there: V8's message quotes up to the whole body
 * (control characters included) when it has no position to give.
 */
const notJson = (parserMessage: string, length: number): string => {
  const position = /at position (\d+)/.exec(parserMessage)?.[1]
  if (parserMessage.startsWith("Unexpected end of JSON input") || Number(position) === length) {
    return "Request body is not valid JSON: it ends too soon"
  }
  return position === undefined
    ? "Request body is not valid JSON"
    : `Request body is not valid JSON: unexpected input at character ${position}`
}

// Only an escape can put half a surrogate pair into parsed JSON (the bytes are valid UTF-8).
const surrogateEscape = /\\u[dD][89a-fA-F]/

/**
 * Where the first string or key holding half of a surrogate pair sits (`rows.3.user.firstName`),
 * walked without recursion. Such text is not valid Unicode: Postgres refuses it in jsonb (it was a
 * 500) and stores U+FFFD for it in text (a PUT changed the name).
 */
const loneSurrogatePath = (value: unknown): string | undefined => {
  const stack: Array<[unknown, ReadonlyArray<string>]> = [[value, []]]
  while (stack.length > 0) {
    const [current, path] = stack.pop()!
    if (typeof current === "string") {
      if (hasLoneSurrogate(current)) return fieldName(path.join(".")) || "body"
      continue
    }
    if (typeof current !== "object" || current === null) continue
    for (const [key, child] of Object.entries(current)) {
      const at = [...path, key]
      if (hasLoneSurrogate(key)) return fieldName(at.join("."))
      stack.push([child, at])
    }
  }
  return undefined
}

/**
 * Reads a JSON body of at most `limitBytes`. Malformed JSON (or UTF-8), JSON nested deeper than
 * `maxJsonDepth` and oversize bodies are answered with their own errors (the HttpApi decoder
 * would turn them into a 500, a stack overflow or a full read of any size); a string or key that
 * is not valid Unicode, on any route, with a `ValidationError` naming where it sits.
 */
export const readJsonBody = (request: HttpServerRequest.HttpServerRequest, limitBytes: number) =>
  Effect.flatMap(readText(request, limitBytes), (text): Effect.Effect<unknown, MalformedJson | ValidationError> => {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (cause) {
      return Effect.fail(new MalformedJson({ message: notJson(String((cause as Error).message), text.length) }))
    }
    if (depthExceeds(value, maxJsonDepth)) {
      return Effect.fail(new MalformedJson({ message: `Request body nests deeper than ${maxJsonDepth} levels` }))
    }
    const broken = surrogateEscape.test(text) ? loneSurrogatePath(value) : undefined
    return broken === undefined ? Effect.succeed(value) : Effect.fail(ValidationError.fromIssues([
      new FieldIssue({ field: broken, reason: "must be valid Unicode text (half of a UTF-16 surrogate pair is not)" })
    ]))
  })
