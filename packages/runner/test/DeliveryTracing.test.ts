import { EmailSimAdmin, EmailSimulator } from "@birthday/email-sim"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { simulatorLayer } from "./support/DeliveryHarness.js"
import { schedulerRun, seedPending, sqlLayer, startRunner, stateCounts, waitUntil } from "./support/SchedulerHarness.js"

interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: { readonly stringValue?: string } }>
}

const attribute = (span: ReceivedSpan | undefined, key: string) =>
  span?.attributes?.find((a) => a.key === key)?.value.stringValue

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
      const run = yield* schedulerRun(8)
      const simulator = yield* Layer.build(simulatorLayer())
      const { baseUrl } = Context.get(simulator, EmailSimulator.EmailSimulator)
      // One greeting due a few seconds from now, fired by a real runner process: slices, JetStream
      // publish, delivery workers, exporting over OTLP to the receiver.
      const [key] = yield* seedPending(run, [Date.now() + 4_000]).pipe(Effect.provide(sqlLayer(run)))
      const runner = yield* startRunner(run, {
        DELIVERY_WORKERS: "true",
        EMAIL_SERVICE_URL: baseUrl,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        // Many keeper rounds while it runs: none of them may reach the traces.
        SLICE_KEEPER_INTERVAL: "200 millis"
      })
      yield* waitUntil("the greeting is sent", Effect.map(stateCounts, (c) => c.sent === 1), 60_000).pipe(
        Effect.provide(sqlLayer(run)),
        Effect.tapErrorCause(() => Effect.sync(() => console.error(runner.output())))
      )
      expect((yield* EmailSimAdmin.stats(baseUrl)).acknowledged).toBe(1)
      // A graceful stop flushes the exporter.
      yield* runner.kill("SIGTERM")

      const call = receiver.spans.find((span) => span.name === "EmailClient.send")
      expect(call, runner.output()).toBeDefined()
      const trace = receiver.spans.filter((span) => span.traceId === call!.traceId)
      const byId = new Map(trace.map((span) => [span.spanId, span]))
      const parentOf = (span: ReceivedSpan | undefined) =>
        span?.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId)
      const consume = parentOf(call)
      const publish = parentOf(consume)
      const timer = parentOf(publish)
      expect(consume?.name).toBe("DeliveryWorker.consume")
      expect(publish?.name).toBe("DeliveryPublisher.publish")
      expect(timer?.name).toBe("Slice.fire")
      expect(attribute(call, "delivery.key")).toBe(key)
      expect(attribute(consume, "delivery.key")).toBe(key)
      // Keep-alive and maintenance rounds stay out of the traces (TRACE_MAINTENANCE_RATIO=0).
      expect(maintenanceSpans(receiver.spans)).toEqual({})
    }).pipe(Effect.scoped))

  it.live("TRACE_MAINTENANCE_RATIO=1 traces every keep-alive round", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver
      const run = yield* schedulerRun(8)
      const runner = yield* startRunner(run, {
        DELIVERY_WORKERS: "false",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        SLICE_KEEPER_INTERVAL: "200 millis",
        TRACE_MAINTENANCE_RATIO: "1"
      })
      yield* waitUntil(
        "keeper rounds are exported",
        Effect.sync(() => receiver.spans.filter((span) => span.name === "SliceKeeper.pingAll").length > 2),
        60_000
      )
      yield* runner.kill("SIGTERM")
      const counts = maintenanceSpans(receiver.spans)
      console.log("maintenance spans at ratio 1:", JSON.stringify(counts))
      expect(counts["SliceKeeper.pingAll"] ?? 0, runner.output()).toBeGreaterThan(1)
      expect(counts["Slice.client.Ping"] ?? 0).toBeGreaterThan(8)
      expect(counts["Slice(N).Ping"] ?? 0).toBeGreaterThan(8)
    }).pipe(Effect.scoped))
})

const maintenanceNames = [
  "SliceKeeper.pingAll",
  "Slice.client.Ping",
  "SliceLease.renew",
  "ProviderRateLimit.refreshShare",
  "SliceOwnership.report",
  "Slice.resync",
  "BreakerRecorder.record",
  "RetrySweeper.sweep",
  "OperationsServer.ready",
  "Slice(N).Ping"
]

/** How many spans of each keep-alive or maintenance loop were exported. */
const maintenanceSpans = (spans: ReadonlyArray<ReceivedSpan>) => {
  const counts: Record<string, number> = {}
  for (const span of spans) {
    // The receiving side of a ping, one name per slice: counted under one.
    const name = /^Slice\(\d+\)\.Ping$/.test(span.name) ? "Slice(N).Ping" : span.name
    if (maintenanceNames.includes(name)) counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}
