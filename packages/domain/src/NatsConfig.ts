import { Config, Either } from "effect"
import { checkUrl } from "./UrlSetting.js"

/** Defaults that work against a local nats-server with JetStream. */
export const natsDefaults = {
  natsUrl: "nats://127.0.0.1:4222",
  streamPrefix: "birthday",
  duplicateWindow: "10 minutes"
} as const

const natsServer = checkUrl(["nats:", "tls:", "ws:", "wss:"], "nats://host:4222")

/**
 * Where NATS is and how our stream, subject and consumer names are prefixed: read by the runners
 * (which create the streams and consume them) and the API (which publishes replays and reports the
 * delivery backlog), so both name things alike.
 */
export const NatsConfig = Config.all({
  url: Config.string("NATS_URL").pipe(
    // One server or several, comma-separated; `host:port` alone means nats://host:port.
    Config.mapOrFail((servers) =>
      Either.map(
        Either.all(
          servers.split(",").map((server) =>
            natsServer(server.includes("://") ? server.trim() : `nats://${server.trim()}`)
          )
        ),
        () => servers
      )
    ),
    Config.withDefault(natsDefaults.natsUrl),
    Config.withDescription("NATS server URL (JetStream enabled)")
  ),
  streamPrefix: Config.string("NATS_STREAM_PREFIX").pipe(
    // Validated before the default is attached, which would otherwise lose the name from the error.
    Config.validate({
      message: "may hold only letters, digits, '-' and '_'",
      validation: (prefix) => /^[A-Za-z0-9_-]+$/.test(prefix)
    }),
    Config.withDefault(natsDefaults.streamPrefix),
    Config.withDescription("Prefix of stream, subject and consumer names, so deployments and test runs never collide")
  ),
  duplicateWindow: Config.duration("NATS_DUPLICATE_WINDOW").pipe(
    Config.withDefault(natsDefaults.duplicateWindow),
    Config.withDescription("JetStream dedupe window for Nats-Msg-Id (occurrence keys)")
  )
})
export type NatsConfig = Config.Config.Success<typeof NatsConfig>

/** The names derived from one prefix, in one place. */
export const natsNames = (prefix: string) => ({
  deliveryStream: `${prefix.toUpperCase()}_DELIVERY`,
  deliverySubject: (kind: string) => `${prefix}.delivery.${kind}`,
  deliverySubjects: `${prefix}.delivery.>`,
  deadLetterStream: `${prefix.toUpperCase()}_DLQ`,
  deadLetterSubject: (kind: string) => `${prefix}.dlq.${kind}`,
  deadLetterSubjects: `${prefix}.dlq.>`,
  advisoryStream: `${prefix.toUpperCase()}_ADVISORIES`,
  deliveryConsumer: `${prefix}-email-worker`,
  advisoryConsumer: `${prefix}-dlq-mover`
})
