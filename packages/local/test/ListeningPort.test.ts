/**
 * The wait for a freshly started Postgres or nats-server: a server that listens only after a
 * couple of seconds is waited for (the refused connections in between return at once), and a port
 * nothing listens on fails after the wait's bound, saying how long it waited.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { createServer, type Server } from "node:net"
import { waitUntilListening } from "../src/ListeningPort.js"

/** A port that was free a moment ago (nothing listens on it now). */
const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer()
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })

const listenAfter = (port: number, delayMs: number) => {
  let server: Server | undefined
  const timer = setTimeout(() => {
    server = createServer((socket) => socket.destroy())
    server.listen(port, "127.0.0.1")
  }, delayMs)
  return () => {
    clearTimeout(timer)
    server?.close()
  }
}

describe("waitUntilListening", () => {
  it.live("waits for a server that starts listening only after 2 s", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const stop = listenAfter(port, 2_000)
      const started = Date.now()
      const exit = yield* Effect.exit(waitUntilListening("127.0.0.1", port, "the test server"))
      stop()
      expect(exit).toStrictEqual(Exit.void)
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000)
    }))

  it.live("fails after its bound when nothing listens, saying how long it waited", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const started = Date.now()
      const error = yield* Effect.flip(waitUntilListening("127.0.0.1", port, "the test server", "1500 millis"))
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500)
      expect(error).toBe(`the test server does not listen on 127.0.0.1:${port} after waiting 1s 500ms`)
    }))
})
