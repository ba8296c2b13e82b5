/**
 * `pnpm bench failover`: greetings due at one instant on two runners, one SIGKILLed a second after
 * (product.md §7: a crashed runner's slices deliver again within 10 s; issue 12: lateness p99
 * after a SIGKILL < 10 s). Prints lateness p50/p99/max of the burst, how many requests in flight
 * on the killed runner were resent (same Idempotency-Key), and the invariants.
 * FAILOVER_USERS (default 1,000), FAILOVER_LATENCY_MS (the provider's, default 50).
 */
import {
  checkInvariants,
  dueSoon,
  formatReport,
  sleepUntil,
  startSystem,
  userInput,
  utcZones,
  waitFor
} from "@birthday/testkit"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Duration, Effect } from "effect"

const BenchConfig = Config.all({
  users: Config.integer("FAILOVER_USERS").pipe(Config.withDefault(1_000)),
  latencyMs: Config.integer("FAILOVER_LATENCY_MS").pipe(Config.withDefault(50))
})

const failoverBench = Effect.gen(function*() {
  const config = yield* BenchConfig
  const plan = dueSoon(60_000 + config.users * 60)
  const system = yield* startSystem({
    label: "bench-failover",
    runners: 2,
    env: plan.env,
    runnerEnv: { LOG_LEVEL: "Warning" },
    simulator: { "latency-ms": config.latencyMs }
  })
  yield* system.api.createMany(
    Array.from(
      { length: config.users },
      (_, i) => userInput({ birthday: plan.anchor(1960 + (i % 40)), timeZone: utcZones[i % utcZones.length]! })
    ),
    16
  ).pipe(Effect.orDie)
  if (Date.now() >= plan.dueAt) return yield* Effect.dieMessage("users were not created before the due minute")
  yield* sleepUntil(plan.dueAt)
  yield* Effect.sleep(Duration.seconds(1))
  const killedAt = Date.now()
  yield* system.runners[1]!.process.kill
  yield* waitFor(
    "every greeting sent",
    Effect.map(system.stateCounts, (counts) => counts.sent ?? 0),
    (sent) => sent >= config.users,
    { timeoutMs: 180_000 }
  )
  const report = yield* checkInvariants(system, {
    settledBefore: plan.dueAt + 1,
    crashes: [{ runnerId: "runner-2", at: killedAt }]
  })
  yield* Console.log(JSON.stringify({
    suite: "failover",
    run: `${config.users} due at once on 2 runners, one SIGKILLed 1 s after (provider ${config.latencyMs} ms)`,
    latenessP50Ms: report.lateness.p50Ms,
    latenessP99Ms: report.lateness.p99Ms,
    latenessMaxMs: report.lateness.maxMs,
    resentAfterCrash: report.provider.resentAfterCrash.count,
    acknowledgedTwice: report.provider.acknowledgedTwice.count,
    clean: report.clean
  }))
  if (!report.clean) yield* Console.log(formatReport(report))
}).pipe(Effect.scoped)

/** Runs the suite as a program. */
export const runFailoverBench = (): void => NodeRuntime.runMain(failoverBench)
