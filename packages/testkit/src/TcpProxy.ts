/**
 * An in-process TCP proxy in front of Postgres, NATS or the provider, switched at run time:
 * - `pass`: forwards both ways;
 * - `cut`: resets every connection and refuses new ones (the listener is closed; it listens again
 *   on the same port when passing again), like a crashed host or a firewall reject;
 * - `blackhole`: accepts connections and forwards nothing (reads stop, so the kernel buffers fill
 *   and senders stall), like a partition; passing again resumes them with nothing lost, as TCP
 *   retransmission would.
 */
import { Effect, type Scope } from "effect"
import { createConnection, createServer, type Server, type Socket } from "node:net"

/** What the proxy does with traffic. */
export type ProxyMode = "pass" | "cut" | "blackhole"

/** A running proxy. */
export interface TcpProxy {
  readonly port: number
  /** `127.0.0.1:<port>`. */
  readonly address: string
  readonly mode: () => ProxyMode
  readonly setMode: (mode: ProxyMode) => Effect.Effect<void>
  /** Connections open now. */
  readonly connections: () => number
}

interface Pair {
  readonly client: Socket
  upstream: Socket | undefined
}

/** Starts a proxy on `port` (0: a free one) forwarding to `target` host and port. */
export const startTcpProxy = (
  target: { readonly host: string; readonly port: number },
  port = 0
): Effect.Effect<TcpProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    let mode: ProxyMode = "pass"
    const pairs = new Set<Pair>()

    const forward = (from: Socket, to: Socket) => {
      from.on("data", (chunk) => {
        if (!to.write(chunk)) from.pause()
      })
      to.on("drain", () => {
        if (mode === "pass") from.resume()
      })
    }

    const connectUpstream = (pair: Pair) => {
      const upstream = createConnection({ host: target.host, port: target.port })
      pair.upstream = upstream
      upstream.setNoDelay(true)
      forward(pair.client, upstream)
      forward(upstream, pair.client)
      upstream.on("error", () => pair.client.resetAndDestroy())
      upstream.on("close", () => pair.client.destroy())
      pair.client.on("close", () => upstream.destroy())
      pair.client.resume()
    }

    const onConnection = (client: Socket) => {
      const pair: Pair = { client, upstream: undefined }
      pairs.add(pair)
      client.setNoDelay(true)
      client.on("error", () => pair.upstream?.resetAndDestroy())
      client.on("close", () => pairs.delete(pair))
      client.pause()
      if (mode === "pass") connectUpstream(pair)
    }

    let server: Server = createServer(onConnection)
    const listen = (on: number) =>
      Effect.async<number>((resume) => {
        server.listen(on, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : on))
        })
      })
    const close = Effect.async<void>((resume) => {
      if (!server.listening) return resume(Effect.void)
      server.close(() => resume(Effect.void))
    })
    const bound = yield* listen(port)

    const resetAll = () => {
      for (const pair of pairs) {
        pair.client.resetAndDestroy()
        pair.upstream?.resetAndDestroy()
      }
      pairs.clear()
    }

    const setMode = (next: ProxyMode) =>
      Effect.gen(function*() {
        const previous = mode
        mode = next
        if (next === "cut") {
          resetAll()
          yield* close
          return
        }
        if (previous === "cut") {
          server = createServer(onConnection)
          yield* listen(bound)
        }
        for (const pair of pairs) {
          if (next === "blackhole") {
            pair.client.pause()
            pair.upstream?.pause()
          } else if (pair.upstream === undefined) {
            connectUpstream(pair)
          } else {
            pair.client.resume()
            pair.upstream.resume()
          }
        }
      })

    yield* Effect.addFinalizer(() => Effect.zipRight(Effect.sync(resetAll), close))
    const proxy: TcpProxy = {
      port: bound,
      address: `127.0.0.1:${bound}`,
      mode: () => mode,
      setMode,
      connections: () => pairs.size
    }
    return proxy
  })
