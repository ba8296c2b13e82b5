/**
 * The adaptive limit against simulated providers (a discrete-event model, no timers): requests
 * start while fewer than `limit` are in flight, and each takes what the provider model says for
 * the load at its start. The invariants: a provider that slows with load settles at a limit
 * where requests stay well inside the timeout (no timeouts of our own making) while throughput
 * stays near the provider's best; a provider that does not slow gets the whole configured limit.
 */
import { describe, expect, it } from "@effect/vitest"
import { AdaptiveConcurrency, adaptiveDefaults } from "../src/AdaptiveConcurrency.js"

interface Run {
  readonly limits: ReadonlyArray<number>
  readonly latencies: ReadonlyArray<number>
  readonly throughput: number
}

/** Runs `requests` requests through a limiter against `latencyOf(inFlight)`; seeded jitter. */
const simulate = (
  limiter: AdaptiveConcurrency,
  latencyOf: (inFlight: number) => number,
  requests: number,
  seed: number
): Run => {
  let state = seed
  const random = () => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  const inFlight: Array<{ readonly end: number; readonly start: number; readonly load: number }> = []
  const limits: Array<number> = []
  const latencies: Array<number> = []
  let now = 0
  let started = 0
  while (latencies.length < requests) {
    while (inFlight.length < limiter.limit && started < requests) {
      const load = inFlight.length + 1
      inFlight.push({ start: now, end: now + latencyOf(load) * (0.9 + 0.2 * random()), load })
      started++
    }
    inFlight.sort((a, b) => a.end - b.end)
    const done = inFlight.shift()!
    now = done.end
    latencies.push(done.end - done.start)
    limiter.observe(done.end - done.start, false, done.load)
    limits.push(limiter.limit)
  }
  return { limits, latencies, throughput: (requests * 1000) / now }
}

const tail = <A>(values: ReadonlyArray<A>) => values.slice(Math.floor(values.length * 0.75))
const max = (values: ReadonlyArray<number>) => values.reduce((a, b) => Math.max(a, b), 0)

describe("adaptive concurrency limit", () => {
  it("a provider whose latency grows with load: latency held far below the timeout, throughput near its best", () => {
    const seed = 20261201
    const timeoutMs = 5_000
    // 20 ms plus 30 ms per request in flight: 256 at once would take 7.7 s, past the timeout.
    const latencyOf = (load: number) => 20 + 30 * load
    const limiter = new AdaptiveConcurrency(adaptiveDefaults(timeoutMs, 1, 256))
    const run = simulate(limiter, latencyOf, 20_000, seed)
    const steady = tail(run.latencies)
    console.log(
      `seed ${seed}: limit ${limiter.limit}, steady p-max latency ${Math.round(max(steady))} ms, ${
        Math.round(run.throughput)
      }/s`
    )
    expect(max(steady)).toBeLessThan(timeoutMs / 4)
    expect(max(tail(run.limits))).toBeLessThan(40)
    // The provider's best is 1000/30 ≈ 33/s, whatever the concurrency.
    expect(run.throughput).toBeGreaterThan(0.8 * (1000 / 30))
  })

  it("the same provider with a fixed limit of 256 times out: the reason for the limit", () => {
    const latencyOf = (load: number) => 20 + 30 * load
    const fixed = { limit: 256, observe: () => false } as unknown as AdaptiveConcurrency
    const run = simulate(fixed, latencyOf, 2_000, 7)
    expect(max(run.latencies)).toBeGreaterThan(5_000)
  })

  it("a provider that does not slow down gets the whole configured limit", () => {
    const limiter = new AdaptiveConcurrency(adaptiveDefaults(5_000, 4, 256))
    simulate(limiter, () => 50, 20_000, 42)
    expect(limiter.limit).toBe(256)
  })

  it("a window mostly of drops cuts the limit by a quarter; a random tenth of hangs does not", () => {
    const drowning = new AdaptiveConcurrency({ ...adaptiveDefaults(5_000, 4, 256), initial: 100 })
    for (let i = 0; i < 50; i++) drowning.observe(i % 3 === 0 ? 40 : 5_000, i % 3 !== 0, 100)
    expect(drowning.limit).toBe(75)
    const flaky = new AdaptiveConcurrency({ ...adaptiveDefaults(5_000, 4, 256), initial: 100 })
    for (let i = 0; i < 5_000; i++) flaky.observe(i % 10 === 0 ? 5_000 : 40, i % 10 === 0, 256)
    expect(flaky.limit).toBe(256)
  })

  it("an idle runner does not grow its limit", () => {
    const limiter = new AdaptiveConcurrency({ ...adaptiveDefaults(5_000, 4, 256), initial: 64 })
    for (let i = 0; i < 1_000; i++) limiter.observe(50, false, 3)
    expect(limiter.limit).toBe(64)
  })

  it("a provider that became slower for everyone is re-learnt, and the limit grows back", () => {
    const limiter = new AdaptiveConcurrency(adaptiveDefaults(5_000, 4, 256))
    simulate(limiter, () => 20, 5_000, 1)
    expect(limiter.limit).toBe(256)
    // Now 400 ms at any load: first read as queueing (the limit falls), then as the new baseline.
    const run = simulate(limiter, () => 400, 20_000, 2)
    expect(Math.min(...run.limits)).toBeLessThan(10)
    expect(limiter.baseline).toBeGreaterThan(300)
    expect(limiter.limit).toBe(256)
  })
  it("a provider steady at 1.5 s (under half the 5 s timeout) is re-learnt and gets its whole limit back", () => {
    const limiter = new AdaptiveConcurrency(adaptiveDefaults(5_000, 4, 256))
    simulate(limiter, () => 20, 5_000, 3)
    const run = simulate(limiter, () => 1_500, 20_000, 4)
    expect(limiter.baseline).toBeGreaterThan(1_000)
    expect(limiter.limit).toBe(256)
    expect(run.throughput).toBeGreaterThan(100)
  })
})
