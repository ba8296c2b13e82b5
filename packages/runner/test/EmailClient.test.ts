/**
 * The provider client against a real HTTP server that fails at each point of an exchange. The
 * invariant: a failure is `Transient` (safe to retry) only when the request cannot have reached
 * the provider in full; once it was written, no answer is `Ambiguous`; a status line received is
 * the provider's answer even if the connection then breaks.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { DeliverySettings } from "../src/DeliveryConfig.js"
import { classifyError, EmailClient, type SendOutcome } from "../src/EmailClient.js"

type Behaviour = (req: IncomingMessage, res: ServerResponse, socket: Socket) => void

/** A server on a free port whose every request is handled by `behaviour`; closed with the scope. */
const server = (behaviour: Behaviour) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly requests: () => number; readonly close: () => void }>((resume) => {
      let requests = 0
      const sockets = new Set<Socket>()
      const http = createServer((req, res) => {
        requests++
        behaviour(req, res, req.socket)
      })
      http.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      http.listen(0, "127.0.0.1", () => {
        const { port } = http.address() as AddressInfo
        resume(Effect.succeed({
          url: `http://127.0.0.1:${port}`,
          requests: () => requests,
          close: () => {
            for (const socket of sockets) socket.destroy()
            http.close()
          }
        }))
      })
    }),
    (s) => Effect.sync(s.close)
  )

/** Sends one email through a fresh client on `url` with a short request timeout. */
const sendTo = (url: string, timeout: Duration.DurationInput = "400 millis") =>
  Effect.gen(function*() {
    const client = yield* EmailClient
    return yield* Effect.promise(() =>
      client.send({ key: "k-1", email: "ada@example.com", message: "Hey, Ada it's your birthday" }, undefined)
    )
  }).pipe(
    Effect.provide(EmailClient.layer.pipe(
      Layer.provide(DeliverySettings.layerWith({ emailServiceUrl: url, requestTimeout: Duration.decode(timeout) }))
    ))
  )

/** Reads the request body in full, then runs `then`. */
const afterBody = (then: Behaviour): Behaviour => (req, res, socket) => {
  req.resume()
  req.on("end", () => then(req, res, socket))
}

const tagOf = (outcome: SendOutcome) => outcome._tag

describe("EmailClient: never reached vs sent without an answer", () => {
  it.scopedLive("connection refused: transient (nothing reached the provider)", () =>
    Effect.gen(function*() {
      const s = yield* server(() => undefined)
      const url = s.url
      s.close()
      yield* Effect.sleep("50 millis")
      const outcome = yield* sendTo(url)
      expect(tagOf(outcome)).toBe("Transient")
      expect(outcome._tag === "Transient" && outcome.error).toContain("ECONNREFUSED")
    }))

  it.scopedLive("unknown host: transient", () =>
    Effect.gen(function*() {
      const outcome = yield* sendTo("http://provider.invalid:8025")
      expect(tagOf(outcome)).toBe("Transient")
      expect(outcome._tag === "Transient" && outcome.error).toMatch(/not sent/)
    }))

  it.scopedLive("request written, then the connection is reset: ambiguous", () =>
    Effect.gen(function*() {
      const s = yield* server(afterBody((_req, _res, socket) => socket.resetAndDestroy()))
      const outcome = yield* sendTo(s.url)
      expect(s.requests()).toBe(1)
      expect(tagOf(outcome)).toBe("Ambiguous")
    }))

  it.scopedLive("request written, then the connection is closed without an answer: ambiguous", () =>
    Effect.gen(function*() {
      const s = yield* server(afterBody((_req, _res, socket) => socket.end()))
      const outcome = yield* sendTo(s.url)
      expect(tagOf(outcome)).toBe("Ambiguous")
    }))

  it.scopedLive("request written, no answer before the timeout: ambiguous", () =>
    Effect.gen(function*() {
      const s = yield* server(afterBody(() => undefined))
      const outcome = yield* sendTo(s.url, "200 millis")
      expect(s.requests()).toBe(1)
      expect(tagOf(outcome)).toBe("Ambiguous")
      expect(outcome._tag === "Ambiguous" && outcome.error).toContain("UND_ERR_HEADERS_TIMEOUT")
    }))

  it.scopedLive("200 status line, then the body breaks off: sent (the provider answered)", () =>
    Effect.gen(function*() {
      const s = yield* server(afterBody((_req, res, socket) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": "100" })
        res.write("{\"status\":")
        res.once("finish", () => undefined)
        setTimeout(() => socket.resetAndDestroy(), 20)
      }))
      const outcome = yield* sendTo(s.url)
      expect(outcome).toMatchObject({ _tag: "Sent", status: 200 })
    }))

  it.scopedLive("503 status line, then the body breaks off: transient with the status", () =>
    Effect.gen(function*() {
      const s = yield* server(afterBody((_req, res, socket) => {
        res.writeHead(503, { "content-type": "application/json", "content-length": "100" })
        res.write("{\"error\":")
        setTimeout(() => socket.resetAndDestroy(), 20)
      }))
      const outcome = yield* sendTo(s.url)
      expect(outcome).toMatchObject({ _tag: "Transient", status: 503 })
    }))

  it.scopedLive("429 with Retry-After: rate limited for that long", () =>
    Effect.gen(function*() {
      const s = yield* server(afterBody((_req, res) => {
        res.writeHead(429, { "retry-after": "7", "content-type": "application/json" })
        res.end("{\"error\":\"rate_limited\"}")
      }))
      const outcome = yield* sendTo(s.url)
      expect(outcome._tag).toBe("RateLimited")
      expect(outcome._tag === "RateLimited" && Duration.toMillis(outcome.retryAfter)).toBe(7000)
      expect(outcome._tag === "RateLimited" && outcome.error).toContain("rate_limited")
    }))

  it.scopedLive("a keep-alive connection closed by the provider between requests is not an ambiguous send", () =>
    Effect.gen(function*() {
      // The provider closes every connection right after answering: the next request must open a
      // new one and succeed, not be written to the dead socket and come back ambiguous.
      const s = yield* server(afterBody((_req, res, socket) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{\"status\":\"sent\"}", () => setTimeout(() => socket.destroy(), 5))
      }))
      const outcomes = yield* Effect.gen(function*() {
        const client = yield* EmailClient
        const results: Array<string> = []
        for (let i = 0; i < 5; i++) {
          const outcome = yield* Effect.promise(() =>
            client.send({ key: `k-${i}`, email: "ada@example.com", message: "hi" }, undefined)
          )
          results.push(outcome._tag)
          yield* Effect.sleep("30 millis")
        }
        return results
      }).pipe(
        Effect.provide(EmailClient.layer.pipe(Layer.provide(DeliverySettings.layerWith({ emailServiceUrl: s.url }))))
      )
      expect(outcomes).toEqual(["Sent", "Sent", "Sent", "Sent", "Sent"])
    }))

  it("classifies by whether the request was written, whatever the error code", () => {
    const error = (code: string) => Object.assign(new Error(code), { code })
    // A connect timeout cannot be produced on loopback without dropping SYNs; its code is judged alike.
    for (const code of ["UND_ERR_CONNECT_TIMEOUT", "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET"]) {
      expect(classifyError(error(code), false)._tag).toBe("Transient")
    }
    for (const code of ["UND_ERR_HEADERS_TIMEOUT", "ECONNRESET", "UND_ERR_SOCKET", "EPIPE"]) {
      expect(classifyError(error(code), true)._tag).toBe("Ambiguous")
    }
  })
})
