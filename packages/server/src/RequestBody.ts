import { MalformedJson, PayloadTooLarge } from "@birthday/domain"
import type { HttpServerRequest } from "@effect/platform"
import { Effect } from "effect"

/**
 * Reads a JSON body of at most `limitBytes`. Malformed JSON and oversize bodies are answered
 * with their own errors (the HttpApi decoder would turn both into a 500).
 */
export const readJsonBody = (request: HttpServerRequest.HttpServerRequest, limitBytes: number) =>
  Effect.gen(function*() {
    const declared = Number(request.headers["content-length"] ?? "0")
    const tooLarge = new PayloadTooLarge({
      message: `Request body exceeds ${limitBytes} bytes`,
      limitBytes
    })
    if (declared > limitBytes) return yield* tooLarge
    const text = yield* request.text.pipe(Effect.mapError(() => tooLarge))
    if (Buffer.byteLength(text) > limitBytes) return yield* tooLarge
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (cause) => new MalformedJson({ message: `Request body is not valid JSON: ${(cause as Error).message}` })
    })
  }).pipe(Effect.withSpan("RequestBody.readJson"))
