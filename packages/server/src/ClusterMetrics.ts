import { Effect, Metric } from "effect"
import { ClusterInspector } from "./ClusterInspector.js"

/** Slices no live runner holds: their greetings are not being scheduled until one takes them. */
export const slicesUnowned = Metric.gauge("scheduler_slices_unowned", {
  description: "Slices that no runner holds (their occurrences wait in Postgres until one does)"
})

/** Runners the cluster lists, by health. */
export const runnersKnown = Metric.gauge("scheduler_runners", {
  description: "Runners registered with the cluster, by health (healthy, unhealthy)"
})

/** Reads slice ownership and runner health into the gauges (refreshed on each scrape); failures only log. */
export const refreshClusterMetrics = Effect.gen(function*() {
  const status = yield* (yield* ClusterInspector).status
  const healthy = status.runners.filter((runner) => runner.healthy).length
  yield* Metric.set(slicesUnowned, status.unownedSlices.length)
  yield* Metric.set(Metric.tagged(runnersKnown, "health", "healthy"), healthy)
  yield* Metric.set(Metric.tagged(runnersKnown, "health", "unhealthy"), status.runners.length - healthy)
}).pipe(
  Effect.timeout("2 seconds"),
  Effect.catchAllCause((cause) => Effect.logWarning("Cannot read the cluster status", cause)),
  Effect.withSpan("ClusterMetrics.refresh")
)
