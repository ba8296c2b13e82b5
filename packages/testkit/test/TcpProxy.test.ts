import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createConnection, createServer, type Socket } from "node:net"
import { startTcpProxy } from "../src/TcpProxy.js"

/** An echo server on a free port, closed with the scope. */
const echoServer = Effect.acquireRelease(
  Effect.async<{ port: number; close: () => void }>((resume) => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => undefined)
      socket.pipe(socket)
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({
        port: typeof address === "object" && address ? address.port : 0,
        close: () => {
          for (const socket of sockets) socket.destroy()
          server.close()
        }
      }))
    })
  }),
  (server) => Effect.sync(server.close)
)

type Client = { socket: Socket; received: () => string; closed: () => string | undefined }

/** Connects; resolves with the socket once connected, or with the error code. */
const connect = (port: number) =>
  Effect.async<Client | string>((resume) => {
    let data = ""
    let closed: string | undefined
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.on("data", (chunk) => (data += String(chunk)))
    socket.on("error", (error: NodeJS.ErrnoException) => {
      closed = error.code ?? "error"
      resume(Effect.succeed(closed))
    })
    socket.on("close", () => (closed ??= "closed"))
    socket.once("connect", () => resume(Effect.succeed({ socket, received: () => data, closed: () => closed })))
  })

const connected = (port: number) =>
  Effect.flatMap(
    connect(port),
    (client) => typeof client === "string" ? Effect.dieMessage(`connect failed: ${client}`) : Effect.succeed(client)
  )

const settle = (ms = 150) => Effect.sleep(ms)

describe("TcpProxy", () => {
  it.scopedLive("passes, cuts (resets and refuses) and black-holes (stalls, then delivers) on command", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const proxy = yield* startTcpProxy({ host: "127.0.0.1", port: echo.port })

      const a = yield* connected(proxy.port)
      a.socket.write("hello")
      yield* settle()
      expect(a.received()).toBe("hello")

      // Black hole: the connection stays open and nothing comes back, until it passes again.
      yield* proxy.setMode("blackhole")
      a.socket.write(" there")
      const b = yield* connected(proxy.port)
      b.socket.write("late")
      yield* settle(400)
      expect(a.received()).toBe("hello")
      expect(b.received()).toBe("")
      expect(a.closed()).toBeUndefined()
      yield* proxy.setMode("pass")
      yield* settle()
      expect(a.received()).toBe("hello there")
      expect(b.received()).toBe("late")

      // Cut: open connections are reset, new ones refused, until it passes again on the same port.
      yield* proxy.setMode("cut")
      yield* settle()
      expect(a.closed()).toBeDefined()
      expect(yield* connect(proxy.port)).toBe("ECONNREFUSED")
      yield* proxy.setMode("pass")
      const c = yield* connected(proxy.port)
      c.socket.write("back")
      yield* settle()
      expect(c.received()).toBe("back")
      expect(proxy.connections()).toBeGreaterThanOrEqual(1)
      for (const client of [a, b, c]) client.socket.destroy()
    }))
})
