import { bulkImportLimits } from "@birthday/domain"
import type { IncomingMessage, Server, ServerResponse } from "node:http"

/** An answer in the API's error shape, closing the connection: the client's body was not read. */
const answer = (
  response: ServerResponse,
  status: number,
  body: { readonly _tag: string; readonly message: string; readonly limitBytes?: number }
) => {
  const json = JSON.stringify(body)
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(json),
    connection: "close"
  })
  response.end(json)
}

/** The body cap of the route a request is for: the bulk import has its own. */
const bodyLimitOf = (request: IncomingMessage, maxBodyBytes: number) =>
  (request.url ?? "").split("?", 1)[0] === "/users/bulk" ? bulkImportLimits.maxBodyBytes : maxBodyBytes

/**
 * The `Expect` header, answered by the API rather than by Node: an expectation other than
 * `100-continue` is a 417 in the error shape (Node sent one with an empty body), and a body
 * announced past the route's cap is refused with the 413 before `100 Continue` invites it (Node
 * sent `100 Continue` to every such request, then the 413).
 */
export const answerExpectations = (server: Server, maxBodyBytes: number): Server => {
  server.on(
    "checkExpectation",
    (_request: IncomingMessage, response: ServerResponse) =>
      answer(response, 417, { _tag: "ExpectationFailed", message: "Only Expect: 100-continue is supported" })
  )
  server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
    const limitBytes = bodyLimitOf(request, maxBodyBytes)
    if (Number(request.headers["content-length"]) > limitBytes) {
      return answer(response, 413, {
        _tag: "PayloadTooLarge",
        message: `Request body exceeds ${limitBytes} bytes`,
        limitBytes
      })
    }
    response.writeContinue()
    // With a listener here Node does not emit the request itself.
    server.emit("request", request, response)
  })
  return server
}
