import { EmailSimulator } from "@birthday/email-sim"
import * as Otlp from "@effect/opentelemetry/Otlp"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import {
  eventually,
  infraLayer,
  publishAll,
  seedOccurrences,
  simulatorLayer,
  stateCounts,
  testRun,
  workersLayer
} from "./support/DeliveryHarness.js"

interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
}

/** A test OTLP/HTTP receiver: keeps every span posted to `/v1/traces` (JSON). */
const otlpReceiver = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly spans: Array<ReceivedSpan>; readonly server: Http.Server }>(
    (resume) => {
      const spans: Array<ReceivedSpan> = []
      const server = Http.createServer((req, res) => {
        let body = ""
        req.on("data", (chunk) => (body += chunk))
        req.on("end", () => {
          if (req.url === "/v1/traces") {
            const payload = JSON.parse(body) as {
              resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<ReceivedSpan> }> }>
            }
            for (const resource of payload.resourceSpans) {
              for (const scope of resource.scopeSpans) spans.push(...scope.spans)
            }
          }
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(
        0,
        "127.0.0.1",
        () =>
          resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, server }))
      )
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

describe("delivery tracing", () => {
  it.live("one trace links the slice timer, the publish, the consume and the email call", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const key = yield* Effect.gen(function*() {
        const run = yield* testRun
        const infra = yield* Layer.build(infraLayer(run))
        const simulator = yield* Layer.build(simulatorLayer())
        const { baseUrl } = Context.get(simulator, EmailSimulator.EmailSimulator)
        yield* Layer.build(workersLayer(baseUrl).pipe(Layer.provide(Layer.succeedContext(infra))))
        return yield* Effect.gen(function*() {
          const [row] = yield* seedOccurrences(1)
          // What a slice does when its timer fires: publish under the timer's span.
          yield* publishAll([row!]).pipe(Effect.withSpan("SliceTimer.fire"))
          yield* eventually(stateCounts, (c) => c.sent === 1, 20_000)
          return row!.key
        }).pipe(Effect.provide(infra))
      }).pipe(
        Effect.scoped,
        // Closing this layer flushes the exporter.
        Effect.provide(
          Otlp.layerJson({ baseUrl: receiver.url, resource: { serviceName: "delivery-trace-test" } }).pipe(
            Layer.provide(NodeHttpClient.layerUndici)
          )
        )
      )
      expect(key).toMatch(/^birthday:/)
      const timer = receiver.spans.find((span) => span.name === "SliceTimer.fire")
      expect(timer).toBeDefined()
      const trace = receiver.spans.filter((span) => span.traceId === timer!.traceId)
      const byName = (name: string) => trace.find((span) => span.name === name)
      const publish = byName("DeliveryCommand.publish")
      const consume = byName("DeliveryWorker.consume")
      const call = byName("EmailClient.send")
      expect(publish?.parentSpanId).toBe(timer!.spanId)
      expect(consume?.parentSpanId).toBe(publish!.spanId)
      expect(call?.parentSpanId).toBe(consume!.spanId)
    }).pipe(Effect.scoped))
})
