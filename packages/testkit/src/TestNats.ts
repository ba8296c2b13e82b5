/**
 * NATS for a scenario: a stream prefix of its own on the machine's NATS (its streams deleted at
 * the end), or a `nats-server -js` of its own on a free port with its store in the scratch
 * directory, which the scenario may stop and restart on the same port and store.
 */
import { natsNames } from "@birthday/domain"
import { Effect, type Scope } from "effect"
import { connect } from "nats"
import { randomBytes } from "node:crypto"
import { mkdirSync } from "node:fs"
import { createConnection } from "node:net"
import { join } from "node:path"
import { type ManagedProcess, startProcess } from "./ManagedProcess.js"
import { freePort, waitFor } from "./Workspace.js"

/** The machine's NATS. */
export const machineNatsUrl = "nats://127.0.0.1:4222"

/** The `nats-server` binary. */
export const natsServerBinary = process.env.TESTKIT_NATS_SERVER ?? "/usr/sbin/nats-server"

/** A NATS server of the scenario's own. */
export interface OwnNats {
  readonly port: number
  readonly url: string
  readonly process: ManagedProcess
  /** SIGTERM and wait; the store stays. */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port and store, once it accepts connections. */
  readonly start: Effect.Effect<void>
}

const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

/** Deletes the streams a prefix names, on the NATS at `url`. */
export const deleteStreams = (url: string, prefix: string) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: url, reconnect: false, timeout: 5_000 }).catch(() => undefined)
    if (nc === undefined) return
    try {
      const jsm = await nc.jetstreamManager()
      const names = natsNames(prefix)
      for (const stream of [names.deliveryStream, names.deadLetterStream, names.advisoryStream]) {
        await jsm.streams.delete(stream).catch(() => false)
      }
    } finally {
      await nc.close()
    }
  })

/** A fresh stream prefix for the run; its streams are deleted from `url` when the scope closes. */
export const streamPrefix = (url: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => `tk${randomBytes(4).toString("hex")}`),
    (prefix) => deleteStreams(url, prefix)
  )

/** Starts `nats-server -js -p <free port> -sd <dir>/nats-<port>`; killed when the scope closes. */
export const ownNats = (dir: string, logDir: string): Effect.Effect<OwnNats, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const store = join(dir, `nats-${port}`)
    mkdirSync(store, { recursive: true })
    const proc = yield* startProcess({
      name: `nats-${port}`,
      command: natsServerBinary,
      args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store],
      logDir
    })
    const ready = waitFor(`nats-server on ${port}`, accepts(port), (ok) => ok, { timeoutMs: 20_000, intervalMs: 50 })
    yield* ready
    return {
      port,
      url: `nats://127.0.0.1:${port}`,
      process: proc,
      stop: Effect.asVoid(proc.terminate(10_000)),
      start: Effect.zipRight(proc.restart(), ready)
    }
  })
