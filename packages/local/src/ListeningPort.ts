/**
 * Whether something listens on a TCP address, and a bounded wait until it does: a process just
 * started (Postgres, nats-server) refuses connections at once until it listens, so the wait is
 * spaced, and bounded by time rather than by a count of attempts.
 */
import { Duration, Effect, Schedule } from "effect"
import { connect } from "node:net"

/** Whether something accepts TCP connections on `host:port` within `timeoutMs`. */
export const answers = (host: string, port: number, timeoutMs = 500): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ host, port })
    const done = (result: boolean) => {
      socket.destroy()
      resume(Effect.succeed(result))
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** How long a freshly started server may take to listen (initdb and a loaded machine included). */
export const defaultListenWait: Duration.DurationInput = "60 seconds"

/** The spacing of the attempts: a refused connection returns at once. */
export const listenProbeSpacing: Duration.DurationInput = "100 millis"

/**
 * Succeeds once `host:port` accepts a connection; fails with a message naming `what` and how long
 * it waited when nothing listened within `bound`.
 */
export const waitUntilListening = (
  host: string,
  port: number,
  what: string,
  bound: Duration.DurationInput = defaultListenWait
): Effect.Effect<void, string> =>
  answers(host, port, 200).pipe(
    Effect.flatMap((up) => up ? Effect.void : Effect.fail("not listening")),
    Effect.retry(Schedule.spaced(listenProbeSpacing).pipe(Schedule.upTo(bound))),
    Effect.mapError(() =>
      `${what} does not listen on ${host}:${port} after waiting ${Duration.format(Duration.decode(bound))}`
    )
  )
