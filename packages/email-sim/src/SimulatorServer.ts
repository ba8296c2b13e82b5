/**
 * The simulator's HTTP server: plain node:http, because the Effect platform router costs more
 * per request than the benchmark can spare, with its lifetime managed by an Effect `Scope`.
 */
import { Data, Effect, Random, type Scope } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { handleAdmin } from "./AdminRoutes.js"
import { sendJson } from "./internal/HttpExchange.js"
import { handleSendEmail, type InFlight } from "./SendEmailRoute.js"
import type { SimulatorOptions } from "./SimulatorConfig.js"
import { SimulatorState } from "./SimulatorState.js"

/** The server could not bind its address. */
export class SimulatorListenError extends Data.TaggedError("SimulatorListenError")<{
  readonly host: string
  readonly port: number
  readonly message: string
}> {}

/** A simulator that is listening. */
export interface RunningSimulator {
  readonly host: string
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number
  /** `http://host:port`, for clients and `EmailSimAdmin`. */
  readonly baseUrl: string
  /** Live state, for in-process assertions. */
  readonly state: SimulatorState
}

const makeListener = (state: SimulatorState, inFlight: InFlight) => {
  const abortInFlight = () => {
    for (const res of inFlight) res.destroy()
    inFlight.clear()
  }
  return (req: Http.IncomingMessage, res: Http.ServerResponse): void => {
    const url = req.url ?? "/"
    const q = url.indexOf("?")
    const path = q === -1 ? url : url.slice(0, q)
    if (path === "/send-email") {
      if (req.method === "POST") return handleSendEmail(state, inFlight, req, res)
      return sendJson(res, 405, { error: "method_not_allowed", message: "use POST" }, { allow: "POST" })
    }
    if (!handleAdmin(state, abortInFlight, req, res, path, q === -1 ? "" : url.slice(q + 1))) {
      sendJson(res, 404, { error: "not_found", message: `no route ${req.method} ${path}` })
    }
  }
}

const listen = (server: Http.Server, host: string, port: number) =>
  Effect.async<number, SimulatorListenError>((resume) => {
    const onError = (error: Error) =>
      resume(Effect.fail(new SimulatorListenError({ host, port, message: error.message })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as AddressInfo).port))
    })
  })

const close = (server: Http.Server, inFlight: InFlight) =>
  Effect.async<void>((resume) => {
    // Hung requests would hold `close` open for ever: cut them and every idle keep-alive socket.
    for (const res of inFlight) res.destroy()
    inFlight.clear()
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

/** Starts a simulator that stops when the scope closes. */
export const start = (options: SimulatorOptions): Effect.Effect<RunningSimulator, SimulatorListenError, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const seed = options.seed ?? (yield* Random.nextIntBetween(0, 2 ** 31 - 1))
    // The hot path is plain JS, so it reads the injected Clock synchronously.
    const state = new SimulatorState(options.faults, seed, options.logCapacity, () => clock.unsafeCurrentTimeMillis())
    const inFlight: InFlight = new Set()
    const server = Http.createServer(makeListener(state, inFlight))
    // Longer than typical client pools' idle timeout, so clients never reuse a socket being closed.
    server.keepAliveTimeout = 65_000
    const port = yield* Effect.acquireRelease(listen(server, options.host, options.port), () => close(server, inFlight))
    const hostInUrl = options.host.includes(":") ? `[${options.host}]` : options.host
    return { host: options.host, port, baseUrl: `http://${hostInUrl}:${port}`, state }
  })
