import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Layer } from "effect"
import { LocalSlices } from "./LocalSlices.js"
import { RunnerSettings } from "./RunnerConfig.js"
import { SliceLease } from "./SliceLease.js"

/**
 * A graceful stop hands this runner's slices over first. Left to the cluster, a stopping runner
 * keeps its shards until everything above it has stopped (delivery workers finishing their sends
 * included), and only then unregisters; the other runners notice at their next assignment read,
 * so for all that time no one fires those slices' greetings. Released first (it is built after
 * the components), this marks the runner unhealthy in `cluster_runners` (its own lease stays held:
 * a slice here fires until it stops and releases its lock): every runner's next
 * assignment read, this one's included, moves its shards to the others; this runner's slices stop
 * and release their locks; the new holders start them (SliceStarter). It waits until no slice is
 * resident here (bounded by `handOverTimeout`), then the rest stops as before. The last healthy
 * runner has no one to hand to and skips it.
 */
export const SliceHandOverLive = Layer.scopedDiscard(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const settings = yield* RunnerSettings
  const local = yield* LocalSlices
  const lease = yield* SliceLease
  const address = RunnerSettings.address(settings)

  const handOver = Effect.gen(function*() {
    const [others] = yield* sql<{ count: number }>`
      SELECT count(*)::int AS count FROM cluster_runners WHERE healthy AND address <> ${address}`
    if (others === undefined || others.count === 0 || local.size === 0) return
    const began = yield* Clock.currentTimeMillis
    yield* lease.handOver
    yield* sql`UPDATE cluster_runners SET healthy = false WHERE address = ${address}`
    yield* Effect.logInfo("Stopping: handing slices over to the other runners", {
      slices: local.size,
      runners: others.count
    })
    yield* Effect.sleep(Duration.millis(50)).pipe(Effect.repeat({ until: () => local.size === 0 }))
    yield* Effect.logInfo("Slices handed over", { ms: (yield* Clock.currentTimeMillis) - began })
  }).pipe(
    // A finalizer runs uninterruptibly: without this the timeout could not stop a wait for slices
    // that never leave (this runner marked healthy again by the cluster after a pause, say).
    Effect.interruptible,
    Effect.timeout(settings.handOverTimeout),
    Effect.catchAllCause((cause) =>
      Effect.logWarning("Slice hand-over did not finish; stopping anyway (the slices move when this runner leaves)", {
        cause
      })
    ),
    Effect.withSpan("SliceHandOver.handOver")
  )

  yield* Effect.addFinalizer(() => handOver)
}))
