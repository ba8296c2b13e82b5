/**
 * At start a role waits for Postgres and NATS while they are unreachable, and only then: a
 * malformed setting read while connecting (an `http://` NATS_URL, a DATABASE_CONNECT_TIMEOUT of
 * "soon") fails at once with the one line naming it, instead of "waiting for it" for ever.
 */
import { describeStartupFailure } from "@birthday/domain"
import { pgLayer } from "@birthday/ledger/Database"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option, Redacted } from "effect"
import { createServer } from "node:net"
import { Nats } from "../src/Nats.js"

/** The line a start prints when building `layer` fails within 20 s with `settings`; none when it still waits. */
const startLine = <A, E>(layer: Layer.Layer<A, E>, settings: Record<string, string>) =>
  Layer.build(layer).pipe(
    Effect.scoped,
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings)))),
    Effect.exit,
    Effect.timeoutOption("20 seconds"),
    Effect.map(Option.map((exit) => Exit.isFailure(exit) ? describeStartupFailure(exit.cause) : "(started)"))
  )

/** A port nothing listens on. */
const closedPort = Effect.async<number>((resume) => {
  const probe = createServer()
  probe.listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as { port: number }
    probe.close(() => resume(Effect.succeed(port)))
  })
})

describe("waiting at start", () => {
  it.live("an http:// NATS_URL fails at once naming NATS_URL", () =>
    Effect.gen(function*() {
      expect(yield* startLine(Nats.layer, { NATS_URL: "http://x" })).toEqual(Option.some(
        "invalid setting NATS_URL: has the scheme http:, expected nats:// or tls:// or ws:// or wss://; " +
          "fix it or unset it for the default"
      ))
    }))

  it.live("a malformed DATABASE_CONNECT_TIMEOUT fails at once naming it", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const line = yield* startLine(pgLayer(Redacted.make(`postgres://postgres@127.0.0.1:${port}/birthday`)), {
        DATABASE_CONNECT_TIMEOUT: "soon"
      })
      expect(Option.getOrElse(line, () => "(still waiting)")).toMatch(
        /^invalid setting DATABASE_CONNECT_TIMEOUT: .*; fix it or unset it for the default$/
      )
    }))

  it.live("an unreachable NATS is still waited for", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const waiting = yield* Layer.build(Nats.layer).pipe(
        Effect.scoped,
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["NATS_URL", `nats://127.0.0.1:${port}`]]))),
        Effect.timeout("3 seconds"),
        Effect.exit
      )
      expect(Exit.isFailure(waiting) && String(Exit.causeOption(waiting))).toContain("TimeoutException")
    }))
})
