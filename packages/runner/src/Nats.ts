import { NatsConfig, natsNames, StartupFailure } from "@birthday/domain"
import { waitingAtStart } from "@birthday/domain/WaitingAtStart"
import { Context, Effect, Layer } from "effect"
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats"

/** Failure to reach NATS or JetStream. */
export class NatsError extends Error {
  readonly _tag = "NatsError"
}

/** One NATS connection per process, with its JetStream client and manager. */
export class Nats extends Context.Tag("@birthday/runner/Nats")<Nats, {
  readonly connection: NatsConnection
  readonly jetstream: JetStreamClient
  readonly manager: JetStreamManager
  readonly config: NatsConfig
  readonly names: ReturnType<typeof natsNames>
}>() {
  /** Connects at start and drains on shutdown (in-flight publishes and acks complete). */
  static readonly layer = Layer.scoped(
    Nats,
    Effect.gen(function*() {
      const config = yield* NatsConfig
      const connection = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () =>
            connect({
              servers: config.url,
              name: "birthday-runner",
              maxReconnectAttempts: -1,
              // Without this the client builds two Error objects (stack traces) per publish: a
              // third of a 100,000-command burst went to them and their garbage.
              noAsyncTraces: true
            }),
          catch: (cause) =>
            new StartupFailure({
              problem: `cannot reach NATS at ${config.url}, ${(cause as { code?: string }).code ?? String(cause)}`,
              setting: "NATS_URL",
              fix:
                "start `nats-server -js` there or point NATS_URL at one (`pnpm start` runs one when NATS_URL is unset)"
            })
        }),
        (nc) => Effect.promise(() => nc.drain().catch(() => nc.close()))
      )
      const manager = yield* Effect.tryPromise({
        try: () => connection.jetstreamManager(),
        catch: (cause) =>
          new StartupFailure({
            problem: `JetStream is not enabled at ${config.url} (${String(cause)})`,
            setting: "NATS_URL",
            fix: "start that nats-server with -js, or point NATS_URL at one that has JetStream"
          })
      })
      return { connection, jetstream: connection.jetstream(), manager, config, names: natsNames(config.streamPrefix) }
    }).pipe(Effect.withSpan("Nats.connect"))
  ).pipe((layer) => waitingAtStart(layer, "NATS"), Layer.orDie)
}
