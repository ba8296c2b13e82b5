import { EmailSimulator } from "@birthday/email-sim"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { OperationsServer } from "../src/OperationsServer.js"
import {
  eventually,
  infraLayer,
  publishAll,
  seedOccurrences,
  simulatorLayer,
  stateCounts,
  testRun,
  testSettings,
  workersLayer
} from "./support/DeliveryHarness.js"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

describe("runner operations listener", () => {
  it.live("serves Prometheus delivery metrics, liveness and readiness (Postgres and NATS)", () =>
    Effect.gen(function*() {
      const run = yield* testRun
      const infra = yield* Layer.build(infraLayer(run))
      const simulator = yield* Layer.build(simulatorLayer())
      const { baseUrl } = Context.get(simulator, EmailSimulator.EmailSimulator)
      const runner = yield* Layer.build(
        Layer.merge(workersLayer(baseUrl), OperationsServer.layer.pipe(Layer.provide(testSettings(baseUrl)))).pipe(
          Layer.provide(Layer.succeedContext(infra))
        )
      )
      const { url } = Context.get(runner, OperationsServer)
      yield* Effect.gen(function*() {
        yield* publishAll(yield* seedOccurrences(3))
        yield* eventually(stateCounts, (c) => c.sent === 3, 20_000)
      }).pipe(Effect.provide(infra))

      const metrics = yield* get(`${url}/metrics`)
      expect(metrics.status).toBe(200)
      expect(metrics.type).toContain("text/plain")
      const sent = /^delivery_outcomes_total\{[^}]*outcome="sent"[^}]*\} (\d+)/m.exec(metrics.body)
      expect(Number(sent?.[1])).toBeGreaterThanOrEqual(3)
      expect(metrics.body).toMatch(/^delivery_breaker_state\{[^}]*provider="email"[^}]*\} 0/m)
      expect(metrics.body).toMatch(/^delivery_lateness_seconds_bucket\{/m)

      const live = yield* get(`${url}/health/live`)
      expect(live.status).toBe(200)
      expect(JSON.parse(live.body)).toEqual({ status: "ok" })
      const ready = yield* get(`${url}/health/ready`)
      expect(ready.status).toBe(200)
      expect(JSON.parse(ready.body)).toEqual({ status: "ok", checks: { postgres: "ok", nats: "ok" } })
      expect((yield* get(`${url}/nowhere`)).status).toBe(404)
    }).pipe(Effect.scoped))
})
