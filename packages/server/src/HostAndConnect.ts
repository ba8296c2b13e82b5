import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { answerAndClose, respondAndClose } from "./ConnectionGuard.js"

const hostless = (request: IncomingMessage) =>
  request.httpVersionMajor === 1 && request.httpVersionMinor === 1 && request.headers.host === undefined

/**
 * Two requests Node answered itself, outside the API's error shape: an HTTP/1.1 request without a
 * `Host` header got Node's bare 400 with an empty body, and `CONNECT` (which Node hands to a
 * `connect` listener, taking the socket from the HTTP parser) was closed without an answer. With
 * `requireHostHeader: false` on the server, a hostless request is refused here, before any request
 * listener (the fast user read's included) sees it, and `CONNECT` is a 405 `MethodNotAllowed`:
 * this is not a proxy. Install right after `createServer`.
 */
export const answerHostlessAndConnect = (server: Server): Server => {
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: Array<unknown>) => boolean
  // Request listeners cannot stop one another, so the check sits where "request" is emitted.
  server.emit = ((event: string | symbol, ...args: Array<unknown>) => {
    if (event === "request" && hostless(args[0] as IncomingMessage)) {
      respondAndClose(args[1] as ServerResponse, 400, {
        _tag: "MalformedRequest",
        message: "An HTTP/1.1 request must have a Host header"
      })
      return true
    }
    return emit(event, ...args)
  }) as Server["emit"]
  server.on(
    "connect",
    (_request: IncomingMessage, socket: Socket) =>
      answerAndClose(socket, 405, "Method Not Allowed", {
        _tag: "MethodNotAllowed",
        message: "CONNECT is not supported: this server is not a proxy"
      }, { allow: "GET, POST, PUT, DELETE" })
  )
  return server
}
