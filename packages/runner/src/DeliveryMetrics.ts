import { Effect, Metric, MetricBoundaries } from "effect"

/** Occurrences settled by a worker, by kind and outcome (sent, dead, retrying, cancelled, …). */
export const deliveryOutcomes: Metric.Metric.Counter<number> = Metric.counter("delivery_outcomes_total", {
  description: "Delivery results by kind and outcome",
  incremental: true
})

/** Provider requests made, by kind and result (sent, permanent, transient, rate_limited, ambiguous). */
export const deliveryAttempts: Metric.Metric.Counter<number> = Metric.counter("delivery_attempts_total", {
  description: "Provider requests by kind and result",
  incremental: true
})

/** Seconds between an occurrence's `dueAt` and the acknowledgement of its send. */
export const deliveryLateness = Metric.histogram(
  "delivery_lateness_seconds",
  MetricBoundaries.fromIterable([0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 21600, 86400, 172800]),
  "Acknowledged send time minus dueAt, in seconds"
)

/** Acks (and naks) that could not be delivered to JetStream; the message is then redelivered. */
export const ackFailures: Metric.Metric.Counter<number> = Metric.counter("delivery_ack_failures_total", {
  description: "JetStream acks or naks that failed (the message is redelivered and deduplicated by the ledger)",
  incremental: true
})

/** Messages of the delivery consumer not yet delivered, and delivered but not yet acknowledged. */
export const consumerPending = Metric.gauge("delivery_consumer_pending", {
  description: "JetStream consumer backlog: kind=pending (not delivered yet) or ack_pending (in flight)"
})

/** Messages moved to the dead-letter subject after exhausting `max_deliver`. */
export const deadLettered: Metric.Metric.Counter<number> = Metric.counter("delivery_dead_lettered_total", {
  description: "Messages moved to the dead-letter stream",
  incremental: true
})

/** Commands acked and dropped because their ledger row moved on since they were published. */
export const staleCommands: Metric.Metric.Counter<number> = Metric.counter("delivery_stale_commands", {
  description: "Delivery commands dropped because their occurrence was rescheduled, replayed, cancelled or settled",
  incremental: true
})

// Tagging allocates a new metric key; the hot path reuses one per tag combination.
const memo = <M>(make: (a: string, b: string) => M) => {
  const cache = new Map<string, M>()
  return (a: string, b: string): M => {
    const id = `${a}\u0000${b}`
    let metric = cache.get(id)
    if (metric === undefined) cache.set(id, metric = make(a, b))
    return metric
  }
}

const outcomeCounter = memo((kind, outcome) =>
  Metric.tagged(Metric.tagged(deliveryOutcomes, "kind", kind), "outcome", outcome)
)
const attemptCounter = memo((kind, result) =>
  Metric.tagged(Metric.tagged(deliveryAttempts, "kind", kind), "result", result)
)
const latenessHistogram = memo((kind) => deliveryLateness.pipe(Metric.tagged("kind", kind)))

/** Counts `n` outcomes of one kind. */
export const countOutcome = (kind: string, outcome: string, n: number) =>
  Metric.incrementBy(outcomeCounter(kind, outcome), n)

/** Counts `n` provider requests of one kind and result. */
export const countAttempt = (kind: string, result: string, n: number) =>
  Metric.incrementBy(attemptCounter(kind, result), n)

const staleCounter = memo((kind, state) => Metric.tagged(Metric.tagged(staleCommands, "kind", kind), "state", state))

/** Counts `n` stale commands of one kind whose row was found in `state`. */
export const countStale = (kind: string, state: string, n: number) => Metric.incrementBy(staleCounter(kind, state), n)

/** Records the lateness of one acknowledged send. */
export const recordLateness = (kind: string, seconds: number) =>
  Metric.update(latenessHistogram(kind, ""), Math.max(0, seconds))

/** Sets the consumer backlog gauges. */
export const setConsumerPending = (consumer: string, pending: number, ackPending: number) =>
  Effect.all([
    Metric.set(consumerPending.pipe(Metric.tagged("consumer", consumer), Metric.tagged("kind", "pending")), pending),
    Metric.set(
      consumerPending.pipe(Metric.tagged("consumer", consumer), Metric.tagged("kind", "ack_pending")),
      ackPending
    )
  ], { discard: true })

/** Provider requests this runner allows in flight now (the adaptive concurrency limit). */
export const concurrencyLimit = Metric.gauge("delivery_concurrency_limit", {
  description: "Provider requests allowed in flight by this runner's adaptive concurrency limit"
})

/** Sets the concurrency limit gauge of `provider`. */
export const setConcurrencyLimit = (provider: string, limit: number) =>
  Metric.set(concurrencyLimit.pipe(Metric.tagged("provider", provider)), limit)
