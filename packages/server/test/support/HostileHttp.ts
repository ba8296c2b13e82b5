import { Effect } from "effect"
import { request as httpRequest } from "node:http"
import { connect, type Socket } from "node:net"
import { performance } from "node:perf_hooks"

/** What a hostile request got back: status 0 when the server closed without answering. */
export interface HostileResponse {
  readonly status: number
  readonly text: string
  readonly json: any
  readonly elapsedMs: number
  readonly headers: Record<string, string | Array<string> | undefined>
}

/**
 * One request sent exactly as given with node:http (headers the fetch API would refuse or
 * normalise, chunked bodies, no content type), on its own connection, bounded by `timeoutMs`.
 */
export const hostileRequest = (baseUrl: string, init: {
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string | Buffer
  /** Sends the body with `Transfer-Encoding: chunked` in `chunkBytes` pieces instead of a length. */
  readonly chunked?: { readonly totalBytes: number; readonly chunkBytes: number }
  readonly timeoutMs?: number
}) =>
  Effect.promise(() =>
    new Promise<HostileResponse>((resolve) => {
      const url = new URL(baseUrl)
      const start = performance.now()
      const done = (status: number, text: string, headers: HostileResponse["headers"] = {}) => {
        let json: any
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status, text, json, elapsedMs: performance.now() - start, headers })
      }
      const headers: Record<string, string> = { ...init.headers }
      if (init.body !== undefined) headers["content-length"] = String(Buffer.byteLength(init.body))
      const req = httpRequest({
        host: url.hostname,
        port: url.port,
        method: init.method,
        path: init.path,
        headers,
        agent: false,
        timeout: init.timeoutMs ?? 15_000
      }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => done(response.statusCode ?? 0, Buffer.concat(chunks).toString(), response.headers))
        response.on("error", () => done(response.statusCode ?? 0, Buffer.concat(chunks).toString()))
      })
      req.on("timeout", () => req.destroy(new Error("timeout")))
      req.on("error", () => done(0, ""))
      if (init.chunked !== undefined) {
        const chunk = Buffer.alloc(init.chunked.chunkBytes, 0x61)
        let sent = 0
        const pump = () => {
          while (sent < init.chunked!.totalBytes) {
            sent += chunk.length
            if (!req.write(chunk)) return void req.once("drain", pump)
          }
          req.end()
        }
        req.on("socket", pump)
        return
      }
      if (init.body !== undefined) req.write(init.body)
      req.end()
    })
  )

/**
 * Sends `head` at once, then `drip` one byte every `everyMs`, and reports how long the server
 * took to close the connection (and the first bytes it answered, if any). Bounded by `giveUpMs`.
 */
export const slowClient = (
  baseUrl: string,
  head: string,
  drip: string,
  everyMs: number,
  giveUpMs: number,
  localAddress?: string
) =>
  Effect.promise(() =>
    new Promise<{ closedAfterMs: number | undefined; answer: string }>((resolve) => {
      const url = new URL(baseUrl)
      const start = performance.now()
      const socket: Socket = connect({
        port: Number(url.port),
        host: url.hostname,
        ...(localAddress === undefined ? {} : { localAddress })
      })
      let answer = ""
      let index = 0
      const timer = setInterval(() => {
        if (index < drip.length && !socket.destroyed) socket.write(drip[index++]!)
      }, everyMs)
      const giveUp = setTimeout(() => finish(undefined), giveUpMs)
      const finish = (closedAfterMs: number | undefined) => {
        clearInterval(timer)
        clearTimeout(giveUp)
        socket.destroy()
        resolve({ closedAfterMs, answer })
      }
      socket.on("data", (data) => (answer += data.toString()))
      socket.on("close", () => finish(performance.now() - start))
      socket.on("error", () => undefined)
      socket.on("connect", () => socket.write(head))
    })
  )

/** A response read off a connection that stays open (or was closed by the server). */
export interface HeldResponse extends HostileResponse {
  readonly socket: Socket
  /** Whether the server has closed the connection (by the time the answer was read). */
  readonly closed: () => boolean
}

/**
 * Sends `request` (raw HTTP/1.1; keep-alive unless it says otherwise) from `localAddress` (any
 * 127.x address is this machine) and resolves once one whole response has arrived, leaving the
 * connection open for the caller to hold; status 0 when the server closed without answering.
 * `readAfterWriting` reads nothing until the whole request is written and gives up when writing
 * fails, as many HTTP clients do with a body; `socket` sends on a connection an earlier call left open.
 */
export const heldRequest = (
  baseUrl: string,
  localAddress: string,
  request: string | Buffer = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n",
  timeoutMs = 10_000,
  options: { readonly readAfterWriting?: boolean; readonly socket?: Socket } = {}
) =>
  Effect.promise(() =>
    new Promise<HeldResponse>((resolve) => {
      const url = new URL(baseUrl)
      const socket = options.socket ?? connect({ port: Number(url.port), host: url.hostname, localAddress })
      socket.removeAllListeners("data").removeAllListeners("close")
      let closed = socket.destroyed
      let received = Buffer.alloc(0)
      let settled = false
      const start = performance.now()
      const settle = (status: number, text: string, headers: HostileResponse["headers"] = {}) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        let json: any
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status, json, text, headers, elapsedMs: performance.now() - start, socket, closed: () => closed })
      }
      const timer = setTimeout(() => settle(0, ""), timeoutMs)
      const parse = () => {
        const end = received.indexOf("\r\n\r\n")
        if (end < 0) return
        const head = received.subarray(0, end).toString()
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0)
        if (received.length < end + 4 + length) return
        const headers = Object.fromEntries(
          head.split("\r\n").slice(1).map((line) => {
            const colon = line.indexOf(":")
            return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]
          })
        )
        settle(Number(head.split(" ")[1]), received.subarray(end + 4, end + 4 + length).toString(), headers)
      }
      socket.on("data", (data: Buffer) => {
        received = Buffer.concat([received, data])
        parse()
      })
      socket.on("error", () => undefined)
      socket.on("close", () => {
        closed = true
        settle(0, "")
      })
      const send = () => {
        if (options.readAfterWriting !== true) return void socket.write(request)
        socket.pause()
        // Like most clients that write first, a failed write (EPIPE, a reset) fails the request.
        socket.write(request, (error) => error ? settle(0, `write failed: ${error.message}`) : socket.resume())
      }
      if (options.socket === undefined) socket.on("connect", send)
      else send()
    })
  )

/** A connection held open by the test, whether the server has closed it, and what it answered. */
export interface HeldConnection {
  readonly socket: Socket
  readonly closed: () => boolean
  readonly answer: () => string
}

/**
 * Opens a connection from `localAddress`, writes `bytes` (a request not yet complete, or
 * nothing) and resolves once they are written, without waiting for an answer; the connection is
 * the caller's to hold and destroy.
 */
export const openConnection = (baseUrl: string, localAddress: string, bytes = "") =>
  Effect.promise(() =>
    new Promise<HeldConnection>((resolve) => {
      const url = new URL(baseUrl)
      const socket = connect({ port: Number(url.port), host: url.hostname, localAddress })
      let closed = false
      let answer = ""
      socket.on("error", () => undefined)
      // Read, so that the server's close is seen.
      socket.on("data", (data: Buffer) => (answer += data.toString()))
      socket.on("close", () => (closed = true))
      const held = { socket, closed: () => closed, answer: () => answer }
      socket.on("connect", () => bytes === "" ? resolve(held) : socket.write(bytes, () => resolve(held)))
      socket.once("close", () => resolve(held))
    })
  )
