import type { ClaimedOccurrence } from "@birthday/ledger/DeliveryLedger"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer } from "effect"
import { BreakerOpen, CircuitBreaker } from "../src/CircuitBreaker.js"
import { type DeliveryConfig, DeliverySettings } from "../src/DeliveryConfig.js"
import { abandonedSend, decide, released } from "../src/DeliveryDecision.js"
import { deliveryRetry } from "../src/DeliveryRetry.js"
import { SendOutcome } from "../src/EmailClient.js"
import { PermitPool } from "../src/PermitPool.js"
import { ProviderPace, ProviderRateLimit, retryAfterFloorMs } from "../src/ProviderRateLimit.js"

const settingsLayer = (overrides: Partial<DeliveryConfig>) => DeliverySettings.layerWith(overrides)

const t0 = Date.parse("2026-04-17T09:00:00Z")
const occurrence = (attempts: number, deadlineInMs = 48 * 3600_000): ClaimedOccurrence => ({
  key: "birthday:u1:2026",
  kind: "birthday",
  userId: "u1",
  leaseToken: "00000000-0000-4000-8000-000000000001",
  dueAt: new Date(t0),
  deadlineAt: new Date(t0 + deadlineInMs),
  attempts,
  email: "ada@example.com",
  firstName: "Ada",
  lastName: "Lovelace"
})
const times = { startedAt: new Date(t0 + 1_000), finishedAt: new Date(t0 + 1_050) }
const policy = { maxAttempts: 5, ambiguousPolicy: "retry" as const }
const retryCappedAt = (retryCap: Duration.Duration) =>
  deliveryRetry({ ...policy, retryBase: Duration.seconds(1), retryFactor: 2, retryCap })

describe("delivery decision", () => {
  it.effect("2xx is sent and acknowledged; a permanent 4xx is dead at once with its error", () =>
    Effect.gen(function*() {
      const retry = yield* retryCappedAt(Duration.minutes(1))
      const sent = decide(occurrence(0), SendOutcome.Sent({ status: 200 }), times, policy, retry, 0.5)
      expect(sent.outcome).toMatchObject({ state: "sent", outcome: "sent", attempted: true, status: 200, error: null })
      expect(sent.reply._tag).toBe("Ack")
      const dead = decide(
        occurrence(0),
        SendOutcome.Permanent({ status: 400, error: "HTTP 400 bad email" }),
        times,
        policy,
        retry,
        0.5
      )
      expect(dead.outcome).toMatchObject({
        state: "dead",
        outcome: "permanent",
        status: 400,
        error: "HTTP 400 bad email"
      })
      expect(dead.reply._tag).toBe("Ack")
    }))

  it.effect("a transient failure retries after the jittered exponential delay of its attempt, capped", () =>
    Effect.gen(function*() {
      const retry = yield* retryCappedAt(Duration.seconds(5))
      const delayOf = (attempts: number, random: number) => {
        const decision = decide(
          occurrence(attempts),
          SendOutcome.Transient({ status: 503, error: "HTTP 503" }),
          times,
          policy,
          retry,
          random
        )
        expect(decision.outcome).toMatchObject({ state: "retrying", outcome: "transient", status: 503 })
        return decision.reply._tag === "Nak" ? Duration.toMillis(decision.reply.delay) : -1
      }
      // Attempt n waits base·2^(n-1), capped, times a jitter factor in [0.8, 1.2).
      expect(delayOf(0, 0)).toBe(800)
      expect(delayOf(0, 0.5)).toBe(1_000)
      expect(delayOf(1, 0.5)).toBe(2_000)
      expect(delayOf(2, 0.5)).toBe(4_000)
      expect(delayOf(3, 0.5)).toBe(5_000)
      expect(delayOf(3, 0.999)).toBeCloseTo(5_998, 0)
    }))

  it.effect("attempts and the deadline bound retries; 429 waits Retry-After without an attempt; so does an open circuit", () =>
    Effect.gen(function*() {
      const retry = yield* retryCappedAt(Duration.minutes(1))
      const transient = SendOutcome.Transient({ status: null, error: "ECONNRESET" })
      const exhausted = decide(occurrence(4), transient, times, policy, retry, 0.5)
      expect(exhausted.outcome.state).toBe("dead")
      expect(exhausted.outcome.error).toContain("gave up after 5 attempts")
      const late = decide(occurrence(0, 1_500), transient, times, policy, retry, 0.5)
      expect(late.outcome.state).toBe("dead")
      expect(late.outcome.error).toContain("deadline")
      const throttled = (attempts: number, retryAfter: Duration.Duration, deadlineInMs?: number) =>
        decide(
          occurrence(attempts, deadlineInMs),
          SendOutcome.RateLimited({ retryAfter, error: "HTTP 429" }),
          times,
          policy,
          retry,
          0.5
        )
      const limited = throttled(0, Duration.seconds(7))
      // `retrying` with its next attempt, so the ledger's sweeper does not undercut Retry-After.
      expect(limited.outcome).toMatchObject({
        state: "retrying",
        outcome: "throttled",
        attempted: false,
        nextAttemptAt: new Date(times.finishedAt.getTime() + 7_000)
      })
      expect(limited.reply).toEqual({ _tag: "Nak", delay: Duration.seconds(7) })
      // However many 429s came before: still no attempt used.
      const limitedAgain = throttled(3, Duration.zero)
      expect(limitedAgain.outcome).toMatchObject({ state: "retrying", outcome: "throttled", attempted: false })
      // Retry-After: 0 is not a hot loop.
      expect(limitedAgain.reply).toEqual({ _tag: "Nak", delay: Duration.millis(retryAfterFloorMs) })
      // A Retry-After past the deadline: dead with the reason, still no attempt counted.
      const limitedLate = throttled(0, Duration.seconds(60), 5_000)
      expect(limitedLate.outcome).toMatchObject({ state: "dead", outcome: "deadline", attempted: false })
      expect(limitedLate.outcome.error).toContain("throttled past its deadline")
      const ambiguous = SendOutcome.Ambiguous({ error: "UND_ERR_HEADERS_TIMEOUT" })
      expect(decide(occurrence(0), ambiguous, times, policy, retry, 0.5).outcome.state).toBe("retrying")
      expect(decide(occurrence(0), ambiguous, times, { ...policy, ambiguousPolicy: "stop" }, retry, 0.5).outcome.state)
        .toBe("ambiguous")
      const deferred = decide(
        occurrence(2),
        new BreakerOpen({ retryIn: Duration.seconds(3) }),
        times,
        policy,
        retry,
        0.5
      )
      expect(deferred.outcome).toMatchObject({ state: "retrying", outcome: "deferred", attempted: false })
      expect(deferred.reply).toEqual({ _tag: "Nak", delay: Duration.seconds(3) })
      expect(
        decide(occurrence(0), new BreakerOpen({ retryIn: Duration.seconds(3) }), times, policy, retry, 0.5).outcome
          .state
      ).toBe("enqueued")
    }))
})

describe("reclaimed occurrence under the stop policy", () => {
  it("is recorded ambiguous, not sent again, and uses no attempt", () => {
    const decision = abandonedSend({ ...occurrence(1), reclaimed: true }, times)
    expect(decision.outcome).toMatchObject({ state: "ambiguous", outcome: "ambiguous", attempted: false })
    expect(decision.reply).toEqual({ _tag: "Ack" })
  })
})

describe("released occurrence", () => {
  it("goes back to its claimable state without using an attempt, redelivered at once", () => {
    const fresh = released(occurrence(0), times)
    expect(fresh.outcome).toMatchObject({ state: "enqueued", outcome: "released", attempted: false, error: null })
    expect(fresh.reply).toEqual({ _tag: "Nak", delay: Duration.zero })
    expect(released(occurrence(3), times).outcome.state).toBe("retrying")
  })
})

describe("circuit breaker", () => {
  const breakerLayer = CircuitBreaker.layer.pipe(
    Layer.provide(settingsLayer({
      breakerConsecutiveFailures: 3,
      breakerFailureRate: 0.5,
      breakerMinRequests: 10,
      breakerWindow: "10 seconds" as never,
      breakerOpenBase: "2 seconds" as never,
      breakerOpenMax: "30 seconds" as never
    }))
  )

  it.effect("opens on consecutive failures, admits one probe when the open period ends, and closes on its success", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker
      expect(breaker.admit(t0)).toBe("call")
      breaker.settle(true, false, t0)
      breaker.settle(false, false, t0)
      breaker.settle(true, false, t0)
      breaker.settle(true, false, t0)
      expect(yield* breaker.state).toBe("Closed")
      breaker.settle(true, false, t0 + 10)
      expect(yield* breaker.state).toBe("Open")
      expect(breaker.admit(t0 + 510)).toBe(1_500)
      // Asking how long to wait never takes the probe.
      expect(Duration.toMillis(yield* breaker.waitTime)).toBeGreaterThan(0)
      expect(breaker.admit(t0 + 2_010)).toBe("probe")
      expect(yield* breaker.state).toBe("HalfOpen")
      expect(typeof breaker.admit(t0 + 2_020)).toBe("number")
      // A result of a call admitted before the circuit opened does not close it.
      breaker.settle(false, false, t0 + 2_030)
      expect(yield* breaker.state).toBe("HalfOpen")
      breaker.settle(false, true, t0 + 2_040)
      expect(yield* breaker.state).toBe("Closed")
      expect(breaker.admit(t0 + 2_050)).toBe("call")
    }).pipe(Effect.provide(breakerLayer)))

  it.effect("a failed probe doubles the open period; a failure rate over the window opens it too", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker
      for (let i = 0; i < 3; i++) breaker.settle(true, false, t0)
      expect(breaker.admit(t0 + 2_000)).toBe("probe")
      breaker.settle(true, true, t0 + 2_000)
      expect(yield* breaker.state).toBe("Open")
      expect(breaker.admit(t0 + 2_000)).toBe(4_000)
      expect(breaker.admit(t0 + 6_000)).toBe("probe")
      breaker.settle(false, true, t0 + 6_000)
      // 5 failures in 10 requests, never 3 in a row: the rate (≥ 50% of ≥ 10) opens it.
      for (let i = 0; i < 10; i++) {
        expect(yield* breaker.state).toBe("Closed")
        breaker.settle(i % 2 === 0, false, t0 + 7_000 + i)
      }
      expect(yield* breaker.state).toBe("Open")
    }).pipe(Effect.provide(breakerLayer)))
})

describe("provider rate limit", () => {
  it.effect("lets a burst through, then spaces requests at the configured rate, first come first served", () =>
    Effect.gen(function*() {
      const limit = yield* ProviderRateLimit
      const waits = Array.from({ length: 8 }, () => limit.reserve(t0))
      // 100 requests/s with a burst of 5: five go at once, then one every 10 ms.
      expect(waits).toEqual([0, 0, 0, 0, 0, 10, 20, 30])
      expect(limit.reserve(t0 + 1_000)).toBe(0)
    }).pipe(
      Effect.provide(
        ProviderRateLimit.layer.pipe(Layer.provide(settingsLayer({ providerRateLimit: 100, providerRateBurst: 5 })))
      )
    ))
})

describe("provider pace (shared rate, 429s)", () => {
  it("divides the configured rate among the live runners", () => {
    const pace = new ProviderPace(100, 1)
    pace.setRunners(4)
    expect(pace.allowed).toBe(25)
    // 25/s: one every 40 ms once the burst of one is used.
    expect([pace.reserve(t0), pace.reserve(t0), pace.reserve(t0)]).toEqual([0, 40, 80])
    // What can start within 200 ms from here: at 120, 160, 200 ms.
    expect(pace.capacity(t0, 200)).toBe(3)
  })

  it("a 429 pauses every request for Retry-After (at least the floor) and cuts the rate by 30%", () => {
    const pace = new ProviderPace(100, 10)
    pace.throttled(t0, 0)
    expect(pace.reserve(t0)).toBe(retryAfterFloorMs)
    expect(pace.allowed).toBeCloseTo(70)
    pace.throttled(t0 + 1_000, 3_000)
    // Another request anywhere in this client waits out the Retry-After too.
    expect(pace.reserve(t0 + 1_000)).toBeGreaterThanOrEqual(3_000)
    expect(pace.capacity(t0 + 1_000, 2_000)).toBe(0)
    expect(pace.allowed).toBeCloseTo(49)
    // Several 429s arriving together cut it once.
    pace.throttled(t0 + 1_010, 3_000)
    expect(pace.allowed).toBeCloseTo(49)
    // 10% a second back up once the pause is over, to the configured rate.
    pace.reserve(t0 + 4_000 + 10_000)
    expect(pace.allowed).toBeGreaterThan(60)
    pace.reserve(t0 + 4_000 + 30_000)
    expect(pace.allowed).toBe(100)
  })

  it("with no configured rate a 429 caps the client below the rate it was sending", () => {
    const pace = new ProviderPace(0, 1)
    expect(pace.allowed).toBe(Infinity)
    // 400 requests a second for two seconds.
    for (let ms = 0; ms < 2_000; ms += 2.5) pace.reserve(t0 + ms)
    pace.throttled(t0 + 2_000, 1_000)
    expect(pace.allowed).toBeGreaterThan(250)
    expect(pace.allowed).toBeLessThan(320)
    expect(pace.reserve(t0 + 2_000)).toBe(1_000)
  })
})

describe("permit pool", () => {
  it("takes up to what is free, and follows a moving limit", async () => {
    const pool = new PermitPool(4)
    expect(pool.acquireUpTo(3)).toBe(3)
    expect(pool.acquireUpTo(3)).toBe(1)
    const waiting = pool.acquireUpTo(5)
    expect(waiting).toBeInstanceOf(Promise)
    pool.setLimit(6)
    expect(await waiting).toBe(1)
    expect(pool.inUse).toBe(5)
    pool.setLimit(2)
    expect(pool.available).toBe(0)
    pool.releaseMany(4)
    expect(pool.inUse).toBe(1)
    expect(pool.available).toBe(1)
  })

  it("holds the limit however many wait, and hands a released permit to the oldest waiter", async () => {
    const pool = new PermitPool(2)
    expect(pool.acquire()).toBe(true)
    expect(pool.acquire()).toBe(true)
    const order: Array<string> = []
    const first = (pool.acquire() as Promise<boolean>).then((granted) => order.push(`first:${granted}`))
    const second = (pool.acquire() as Promise<boolean>).then((granted) => order.push(`second:${granted}`))
    expect(pool.inUse).toBe(2)
    pool.release()
    await first
    expect(order).toEqual(["first:true"])
    // The permit went to the waiter, not back to the pool.
    expect(pool.inUse).toBe(2)
    const third = pool.acquire()
    expect(third).toBeInstanceOf(Promise)
    pool.release()
    await second
    expect(order).toEqual(["first:true", "second:true"])
    // Closing refuses the waiter and later requests; held permits come back as they are released.
    pool.close()
    expect(await third).toBe(false)
    expect(pool.acquire()).toBe(false)
    pool.release()
    pool.release()
    expect(pool.inUse).toBe(0)
  })

  it.effect("a wait for permits that is interrupted leaks none (a consume loop restarting while every permit is in use)", () =>
    Effect.gen(function*() {
      const pool = new PermitPool(2)
      expect(yield* pool.acquireUpToEffect(5)).toBe(2)
      // Four claim loops waiting for a permit, interrupted by a consumer restart.
      const waiters = yield* Effect.forEach([1, 2, 3, 4], () => Effect.fork(pool.acquireUpToEffect(3)))
      yield* Effect.yieldNow()
      yield* Effect.forEach(waiters, Fiber.interrupt)
      pool.releaseMany(2)
      expect(pool.inUse).toBe(0)
      expect(pool.available).toBe(2)
      // A waiter granted a permit in the same instant it is interrupted gives it back.
      expect(yield* pool.acquireUpToEffect(2)).toBe(2)
      const racing = yield* Effect.fork(pool.acquireUpToEffect(1))
      yield* Effect.yieldNow()
      pool.release()
      yield* Fiber.interrupt(racing)
      pool.release()
      expect(pool.inUse).toBe(0)
      // Served in order, and a waiter that is not interrupted keeps its permit.
      expect(yield* pool.acquireUpToEffect(2)).toBe(2)
      const kept = yield* Effect.fork(pool.acquireUpToEffect(1))
      yield* Effect.yieldNow()
      pool.release()
      expect(yield* Fiber.join(kept)).toBe(1)
      expect(pool.inUse).toBe(2)
    }))
})
