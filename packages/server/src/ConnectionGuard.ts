import { Duration } from "effect"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { performance } from "node:perf_hooks"
import { addressKey } from "./ClientAddress.js"

/** What one client may hold of the server's connections. */
export interface ConnectionLimits {
  /** The server's cap (`HTTP_MAX_CONNECTIONS`; Node drops connections past it on arrival). */
  readonly maxConnections: number
  /** Connections one address may hold at once (`HTTP_MAX_CONNECTIONS_PER_ADDRESS`). */
  readonly maxConnectionsPerAddress: number
  /** Body bytes read and discarded after an answer given before the body arrived (`HTTP_DRAIN_BYTES`). */
  readonly drainBytes: number
  /** How long such a body is read and discarded (`HTTP_DRAIN_TIME`). */
  readonly drainTime: Duration.Duration
  /** Bytes/s a body must average once `bodyGrace` has passed (`HTTP_MIN_BODY_RATE`; 0: off). */
  readonly minBodyRate: number
  /** How long a body may arrive at any rate (`HTTP_BODY_GRACE`). */
  readonly bodyGrace: Duration.Duration
}

/**
 * Past this share of the cap, connections without a request in progress (idle keep-alives,
 * headers not yet complete, nothing sent) are closed, oldest first, to make room.
 */
const nearCapShare = 0.9

/**
 * Whether `socket` has a request in progress: Node gives a connection its response when the
 * request's headers are in, and takes it back once the response is written. Without one it is idle
 * between requests or still sending its headers.
 */
const hasRequestInProgress = (socket: Socket) => {
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  return response != null && !response.writableFinished
}

/**
 * How long a connection being refused keeps being read after its answer, so that a client still
 * sending reads the answer instead of a reset (closing with unread input sends RST, and a client
 * that receives one may drop the answer it had not read yet). Go's server waits as long.
 */
export const lingerMs = 500

/**
 * Writes a complete JSON answer on a raw socket, closes its write side and reads (discarding)
 * what the client still sends for `lingerMs`, then closes. For answers outside any request:
 * a refused connection, a request Node could not parse.
 */
export const answerAndClose = (
  socket: Socket,
  status: number,
  reason: string,
  body: { readonly _tag: string; readonly message: string },
  headers: Record<string, string> = {}
) => {
  if (!socket.writable) return void socket.destroy()
  const json = JSON.stringify(body)
  const head = [
    `HTTP/1.1 ${status} ${reason}`,
    "content-type: application/json",
    `content-length: ${Buffer.byteLength(json)}`,
    "connection: close",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)
  ]
  socket.end(`${head.join("\r\n")}\r\n\r\n${json}`)
  lingerThenClose(socket)
}

/**
 * `answerAndClose` for a request Node parsed: the JSON answer on its response, without keep-alive,
 * then the same linger and close (the body is not read). The socket is taken before the answer:
 * once it is finished Node detaches it from the response.
 */
export const respondAndClose = (
  response: ServerResponse,
  status: number,
  body: { readonly _tag: string; readonly message: string }
) => {
  const socket = response.socket
  const json = JSON.stringify(body)
  response.shouldKeepAlive = false
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) })
  response.end(json, () => {
    if (socket !== null) lingerThenClose(socket)
  })
}

/** Keeps reading (and discarding) a socket whose write side is closed, for `lingerMs` at most. */
export const lingerThenClose = (socket: Socket) => {
  const timer = setTimeout(() => socket.destroy(), lingerMs)
  socket.once("close", () => clearTimeout(timer))
  socket.on("error", () => socket.destroy())
  socket.resume()
}

/**
 * What Node could not take for a request, answered in the API's error shape instead of Node's bare
 * `400 Bad Request` (a malformed request line or header, a smuggling attempt with two lengths),
 * `408` (headers or request not in within their timeouts) or `431` (headers past 16 KiB). The
 * reason is llhttp's own text and code, never the bytes sent.
 */
const answerClientError = (error: Error & { code?: string; reason?: string }, socket: Socket) => {
  const code = error.code ?? ""
  // A response already under way cannot be replaced; a reset client reads nothing.
  const inProgress = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage
  if (code === "ECONNRESET" || code === "EPIPE" || inProgress?.headersSent === true) return void socket.destroy()
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return answerAndClose(socket, 408, "Request Timeout", {
      _tag: "RequestTimeout",
      message: "The request did not arrive in time (HTTP_HEADERS_TIMEOUT / HTTP_REQUEST_TIMEOUT)"
    })
  }
  if (code === "HPE_HEADER_OVERFLOW") {
    return answerAndClose(socket, 431, "Request Header Fields Too Large", {
      _tag: "HeadersTooLarge",
      message: "The request's headers exceed 16 KiB"
    })
  }
  const what = typeof error.reason === "string"
    ? error.reason.replace(/[^\x20-\x7e]/g, "?").slice(0, 120)
    : "unreadable"
  answerAndClose(socket, 400, "Bad Request", {
    _tag: "MalformedRequest",
    message: `The request is not valid HTTP/1.1: ${what} (${code.replace(/[^\w]/g, "").slice(0, 40)})`
  })
}

const hasBody = (request: IncomingMessage) =>
  request.headers["transfer-encoding"] !== undefined ||
  (request.headers["content-length"] !== undefined && request.headers["content-length"] !== "0")

/**
 * After an answer given before the request's body was read (a 413, a 401 or 429 on a POST), the
 * rest of the body is read and discarded so that the connection survives for the next request,
 * up to `drainBytes` or `drainTime`; past either, the write side is closed and the connection
 * lingers (`lingerMs`) before it closes. Closing at once with the body unread sent the client a
 * reset, and a client that writes its whole body before reading lost the 413 to it.
 */
const drainUnreadBody = (request: IncomingMessage, limits: ConnectionLimits) => {
  const socket = request.socket
  const startBytes = socket.bytesRead
  const startedAt = performance.now()
  const drainMs = Duration.toMillis(limits.drainTime)
  // Node discards the body itself (or the body reader paused it): either way, keep it flowing.
  request.resume()
  // The HTTP parser reads the socket natively (no data events): its byte count is the measure.
  const poll = setInterval(() => {
    if (request.complete || socket.destroyed) return clearInterval(poll)
    if (socket.bytesRead - startBytes > limits.drainBytes || performance.now() - startedAt > drainMs) {
      clearInterval(poll)
      socket.end()
      lingerThenClose(socket)
    }
  }, 20)
}

/** How often a body's rate is checked. */
const bodyRateCheckMs = 250

/**
 * Answers 408 and closes when the body of `request`, not yet answered, averages less than
 * `minBodyRate` bytes/s once `bodyGrace` has passed: the request timeout alone let a body
 * trickling a byte at a time hold its connection for 30 s, and ten addresses hold the cap. The
 * app reads bodies as they come (a body not read would stop arriving once the socket's buffers
 * fill, and be cut off too: no route leaves a body unread while it works).
 */
const enforceBodyRate = (request: IncomingMessage, response: ServerResponse, limits: ConnectionLimits) => {
  if (limits.minBodyRate === 0) return
  const socket = request.socket
  const startBytes = socket.bytesRead
  const startedAt = performance.now()
  const graceMs = Duration.toMillis(limits.bodyGrace)
  const poll = setInterval(() => {
    if (request.complete || response.headersSent || socket.destroyed) return clearInterval(poll)
    const elapsedMs = performance.now() - startedAt
    if (elapsedMs < graceMs || (socket.bytesRead - startBytes) * 1000 >= limits.minBodyRate * elapsedMs) return
    clearInterval(poll)
    respondAndClose(response, 408, {
      _tag: "RequestTimeout",
      message: `The request body arrived slower than HTTP_MIN_BODY_RATE (${limits.minBodyRate} bytes/s)`
    })
  }, bodyRateCheckMs)
}

/**
 * Bounds what one client can hold of `server`'s connections. An address past
 * `maxConnectionsPerAddress` is answered 429 `TooManyConnections` on arrival (one client holding
 * hundreds of idle keep-alive connections locked everyone else out at `HTTP_MAX_CONNECTIONS`),
 * and once the server holds 90% of its cap, each arrival closes the connections that have no
 * request in progress, the least recently used first, until it is under 90% again: idle
 * keep-alives, and also connections whose headers never end (Node's `closeIdleConnections` left
 * those open, so a few addresses trickling headers filled the server until the headers timeout).
 * Only requests in progress, each bounded by the request timeout and its body by a minimum rate
 * (`enforceBodyRate`), hold a place. An answer given before the request's body arrived is followed by a
 * bounded drain of that body (`drainUnreadBody`), so the client reads it, and what Node cannot
 * parse is answered in the API's JSON error shape (`answerClientError`). Install right after
 * `createServer`: it wraps Node's own connection listener, so that a refused socket never reaches
 * the HTTP parser.
 */
export const guardConnections = (server: Server, limits: ConnectionLimits): Server => {
  const listeners = server.listeners("connection")
  if (listeners.length !== 1) throw new Error("guardConnections must be installed on a fresh http.Server")
  const serveHttp = listeners[0] as (socket: Socket) => void
  server.removeListener("connection", serveHttp)

  const perAddress = Math.min(limits.maxConnectionsPerAddress, limits.maxConnections)
  const nearCap = Math.ceil(limits.maxConnections * nearCapShare)
  const held = new Map<string, number>()
  // Every admitted connection and its address key, least recently used first (a request moves
  // its connection to the end).
  const open = new Map<Socket, string>()
  // Connections answered 429 and lingering: Node counts them against its cap too.
  const refused = new Set<Socket>()

  /** Forgets an admitted connection, once: at its close or when it is evicted. */
  const release = (socket: Socket) => {
    const key = open.get(socket)
    if (key === undefined) return
    open.delete(socket)
    const left = (held.get(key) ?? 1) - 1
    if (left === 0) held.delete(key)
    else held.set(key, left)
  }

  /** Closes refused connections, then unused admitted ones, until under `nearCap` (or none is left). */
  const makeRoom = (arrived: Socket) => {
    for (const socket of refused) socket.destroy()
    refused.clear()
    for (const socket of open.keys()) {
      if (open.size < nearCap) return
      if (socket === arrived || hasRequestInProgress(socket)) continue
      release(socket)
      socket.destroy()
    }
  }

  server.on("connection", (socket: Socket) => {
    const key = addressKey(socket.remoteAddress)
    const count = held.get(key) ?? 0
    if (count >= perAddress) {
      answerAndClose(socket, 429, "Too Many Requests", {
        _tag: "TooManyConnections",
        message: `This address holds ${count} connections, the most one address may hold; reuse one or retry later`
      }, { "retry-after": "1" })
      if (socket.destroyed) return
      refused.add(socket)
      socket.once("close", () => refused.delete(socket))
      if (open.size + refused.size >= nearCap) makeRoom(socket)
      return
    }
    held.set(key, count + 1)
    open.set(socket, key)
    socket.once("close", () => release(socket))
    if (open.size + refused.size >= nearCap) makeRoom(socket)
    serveHttp.call(server, socket)
  })
  server.on("clientError", answerClientError)
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    const key = open.get(request.socket)
    if (key !== undefined) {
      open.delete(request.socket)
      open.set(request.socket, key)
    }
    if (!hasBody(request)) return
    enforceBodyRate(request, response, limits)
    response.once("finish", () => {
      if (!request.complete && response.statusCode !== 408) drainUnreadBody(request, limits)
    })
  })
  return server
}
