import { DeliveryCommand, occasionKinds, renderMessage } from "@birthday/domain"
import { type ClaimedOccurrence, DeliveryLedger } from "@birthday/ledger/DeliveryLedger"
import { Chunk, Clock, Duration, Effect, Layer, Option, Queue, Runtime, Schedule, Schema, type Tracer } from "effect"
import { AckPolicy, DeliverPolicy, type JsMsg, nanos } from "nats"
import { BreakerOpen, CircuitBreaker } from "./CircuitBreaker.js"
import { DeliverySettings } from "./DeliveryConfig.js"
import { decide, type Decision, released } from "./DeliveryDecision.js"
import { countAttempt, countOutcome, countStale, recordLateness, setConsumerPending } from "./DeliveryMetrics.js"
import { deliveryRetry } from "./DeliveryRetry.js"
import { DurableConsumer } from "./DurableConsumer.js"
import { EmailClient, SendOutcome } from "./EmailClient.js"
import { fiberlessSpans } from "./FiberlessSpans.js"
import { nakMillis, replyFailed } from "./MessageReply.js"
import { Nats } from "./Nats.js"
import { PermitPool } from "./PermitPool.js"
import { ProviderRateLimit } from "./ProviderRateLimit.js"
import { parentSpan } from "./TraceHeaders.js"

/** The fields of a `DeliveryCommand` the worker reads; the ledger row is the authority on the rest. */
const WorkerCommand = Schema.Struct({
  key: DeliveryCommand.fields.key,
  kind: DeliveryCommand.fields.kind,
  version: DeliveryCommand.fields.version
})
type WorkerCommand = typeof WorkerCommand.Type
const decodeCommand = Schema.decodeUnknownOption(WorkerCommand)
const decoder = new TextDecoder()
const readCommand = (data: Uint8Array): WorkerCommand | undefined => {
  try {
    return Option.getOrUndefined(decodeCommand(JSON.parse(decoder.decode(data))))
  } catch {
    return undefined
  }
}

/** One received message, with its consumer span (ended when the message is answered). */
interface Received {
  readonly msg: JsMsg
  readonly span: Tracer.Span
  readonly command: WorkerCommand | undefined
}

/** A message whose occurrence this worker claimed. */
interface Claimed extends Received {
  readonly occurrence: ClaimedOccurrence
}

/** A claimed message with its decided outcome. */
interface Decided extends Claimed {
  readonly decision: Decision
  /** The provider call's result, when one was made. */
  readonly attempt: SendOutcome["_tag"] | undefined
}

/**
 * What one batch's replies add to the metrics and logs, applied once per batch: the replies
 * themselves are synchronous (`ack`/`nak` only queue a protocol line).
 */
interface ReplyTally {
  readonly at: number
  readonly count: (into: "attempts" | "outcomes" | "stale", kind: string, label: string) => void
  readonly lateness: (kind: string, seconds: number) => void
  /** Runs `reply`; a throw is logged and counted at the flush (the message comes back). */
  readonly answer: (msg: JsMsg, what: string, reply: () => void) => void
  readonly ack: (msg: JsMsg) => void
  /** Asks for redelivery after `delayMs`. */
  readonly nak: (msg: JsMsg, delayMs: number) => void
  /** Something to log at the flush. */
  readonly later: (effect: Effect.Effect<void>) => void
  readonly flush: Effect.Effect<void>
}

const replyTally = (at: number): ReplyTally => {
  const counts = {
    attempts: new Map<string, number>(),
    outcomes: new Map<string, number>(),
    stale: new Map<string, number>()
  }
  const lateness: Array<readonly [string, number]> = []
  const later: Array<Effect.Effect<void>> = []
  const split = (id: string) => id.split("\u0000") as [string, string]
  const answer = (msg: JsMsg, what: string, reply: () => void) => {
    try {
      reply()
    } catch (cause) {
      later.push(replyFailed(what, msg)(cause))
    }
  }
  return {
    at,
    count: (into, kind, label) => {
      const id = `${kind}\u0000${label}`
      counts[into].set(id, (counts[into].get(id) ?? 0) + 1)
    },
    lateness: (kind, seconds) => lateness.push([kind, seconds]),
    answer,
    ack: (msg) => answer(msg, "ack", () => msg.ack()),
    nak: (msg, delayMs) => answer(msg, "nak", () => msg.nak(nakMillis(delayMs))),
    later: (effect) => later.push(effect),
    flush: Effect.suspend(() =>
      Effect.all([
        Effect.forEach(counts.attempts, ([id, n]) => countAttempt(...split(id), n), { discard: true }),
        Effect.forEach(counts.outcomes, ([id, n]) => countOutcome(...split(id), n), { discard: true }),
        Effect.forEach(counts.stale, ([id, n]) => countStale(...split(id), n), { discard: true }),
        Effect.forEach(lateness, ([kind, seconds]) => recordLateness(kind, seconds), { discard: true }),
        Effect.all(later, { discard: true })
      ], { discard: true })
    )
  }
}

/** Claim statements and outcome writes in flight at once. */
const claimers = 4
const recorders = 2

/** Reclaim backoff when the ledger is unreachable. */
const ledgerUnavailableMs = 2_000

/** What a claim stage hands on: occurrences to send, and how long to pause before the next batch. */
interface ClaimedBatch {
  readonly work: ReadonlyArray<Claimed>
  readonly pauseMs: number
}
const noWork: ClaimedBatch = { work: [], pauseMs: 0 }

/**
 * The delivery workers: a durable pull consumer whose messages are claimed in batches (one SQL
 * statement each), sent concurrently through the rate limit and the circuit breaker, recorded in
 * batches, and only then acknowledged, or redelivered later with `nak(delay)`.
 *
 * Effects run per batch; what runs per message (decoding, spans, the breaker and rate-limit steps,
 * the provider call, the decision, the reply) is plain synchronous code or a promise, with the
 * clock, tracer and runtime of this layer captured once: at thousands of messages a second a fiber
 * per message was most of the worker's CPU.
 */
export const DeliveryWorkerLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* DeliverySettings
    const { jetstream, manager, names } = yield* Nats
    const ledger = yield* DeliveryLedger
    const client = yield* EmailClient
    const breaker = yield* CircuitBreaker
    const rateLimit = yield* ProviderRateLimit
    const retry = yield* deliveryRetry(settings)
    const spans = yield* fiberlessSpans
    const clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const ackWaitMs = Duration.toMillis(settings.ackWait)

    yield* DurableConsumer.ensure(manager, names.deliveryStream, {
      durable_name: names.deliveryConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: names.deliverySubjects,
      ack_wait: nanos(ackWaitMs),
      max_deliver: settings.maxDeliver,
      max_ack_pending: Math.max(settings.fetchBuffer * 4, 20_000)
    })

    const receive = (msg: JsMsg): Received => {
      const command = readCommand(msg.data)
      const span = spans.start("DeliveryWorker.consume", Option.getOrUndefined(parentSpan(msg.headers)), "consumer", {
        "messaging.system": "nats",
        "messaging.destination.name": msg.subject,
        "messaging.message.delivery_count": msg.info.redeliveryCount,
        "delivery.key": command?.key ?? ""
      })
      return { msg, span, command }
    }
    const finish = (received: Received, result: string) => spans.end(received.span, { "delivery.result": result })

    /**
     * Claims a batch in one statement and answers at once every message that needs no send.
     * Returns the claimed work and how long the loop should pause before taking more (while the
     * circuit is open or the ledger unreachable).
     */
    const claimBatch = (batch: ReadonlyArray<JsMsg>) =>
      Effect.gen(function*() {
        const tally = replyTally(clock.unsafeCurrentTimeMillis())
        const valid: Array<Received & { readonly command: WorkerCommand }> = []
        for (const msg of batch) {
          const r = receive(msg)
          if (r.command !== undefined) {
            valid.push(r as Received & { readonly command: WorkerCommand })
            continue
          }
          tally.later(
            Effect.logError("Undecodable delivery command; terminating it").pipe(
              Effect.annotateLogs({ subject: msg.subject, seq: msg.seq })
            )
          )
          tally.answer(msg, "term", () => msg.term("undecodable DeliveryCommand"))
          finish(r, "undecodable")
        }
        const claimed = valid.length === 0 ? noWork : yield* claimValid(valid, tally)
        yield* tally.flush
        return claimed
      }).pipe(Effect.withSpan("DeliveryWorker.claimBatch", { attributes: { size: batch.length } }))

    const claimValid = (valid: ReadonlyArray<Received & { readonly command: WorkerCommand }>, tally: ReplyTally) =>
      Effect.gen(function*() {
        const nakAll = (result: string, delayMs: () => number) => {
          for (const r of valid) {
            tally.nak(r.msg, delayMs())
            finish(r, result)
          }
        }
        // While the circuit is open nothing is claimed: the messages come back when it may close
        // (spread by jitter), no attempt is used, and this stage pauses so that nothing more is
        // pulled meanwhile: no redelivery churn while the provider is down.
        const wait = Duration.toMillis(yield* breaker.waitTime)
        if (wait > 0) {
          nakAll("deferred", () => wait * (1 + 0.25 * Math.random()))
          return { work: [], pauseMs: wait }
        }
        const at = tally.at
        const claim = yield* ledger.claim(
          valid.map((r) => ({ key: r.command.key, version: r.command.version })),
          new Date(at),
          ackWaitMs
        ).pipe(Effect.either)
        if (claim._tag === "Left") {
          tally.later(Effect.logError("Cannot claim a delivery batch; it will be redelivered", claim.left.cause))
          nakAll("ledger", () => ledgerUnavailableMs)
          return { work: [], pauseMs: ledgerUnavailableMs }
        }
        const claimed = new Map(claim.right.claimed.map((o) => [o.key, o]))
        const cancelled = new Set(claim.right.cancelled)
        const late = new Set(claim.right.late)
        const unclaimed = new Map(claim.right.unclaimed.map((o) => [o.key, o]))
        const work: Array<Claimed> = []
        const workingSeq = new Map<string, number>()
        const ack = (r: Received & { readonly command: WorkerCommand }, result: string, outcome: string) => {
          tally.ack(r.msg)
          tally.count("outcomes", r.command.kind, outcome)
          finish(r, result)
        }
        const nak = (r: Received, result: string, delayMs: number) => {
          tally.nak(r.msg, delayMs)
          finish(r, result)
        }
        for (const r of valid) {
          const { key } = r.command
          const occurrence = claimed.get(key)
          if (occurrence !== undefined) {
            claimed.delete(key)
            workingSeq.set(key, r.msg.seq)
            work.push({ ...r, occurrence })
            continue
          }
          const owner = workingSeq.get(key)
          if (owner !== undefined) {
            // Another copy for a key this batch is sending. The same stream message redelivered
            // must not be answered (an ack would settle the copy being worked on); a separate
            // message for the key (a republish) is a duplicate and is acknowledged.
            if (owner === r.msg.seq) finish(r, "redelivered")
            else ack(r, "duplicate", "skipped")
            continue
          }
          if (cancelled.has(key)) {
            ack(r, "cancelled", "cancelled")
            continue
          }
          if (late.has(key)) {
            // Its deadline passed while the command waited: recorded expired or dead, never sent.
            ack(r, "late", "late")
            continue
          }
          const other = unclaimed.get(key)
          if (other?.current === true && other.state === "sending") {
            // Another worker holds it under a live lease: look again when the lease runs out.
            nak(r, "leased", Math.max(1000, other.leaseLeftMs + 1000))
          } else if (other?.current === true && (other.state === "enqueued" || other.state === "retrying")) {
            // Claimable, yet not claimed: a concurrent claim of this key (another batch or
            // runner) won the row lock; this statement's snapshot still shows the old state.
            // Never acknowledge it: it may be the very message that claim is working on.
            nak(r, "contended", 1000)
          } else {
            // Sent, dead, expired, cancelled, ambiguous, rescheduled (pending), replayed or
            // republished under a newer version, or unknown: this command is stale. Acknowledged
            // and dropped, never nak'd toward the broker's redelivery limit; whoever moved the row
            // publishes again if a send is still owed.
            ack(r, other === undefined ? "unknown" : `stale:${other.state}`, "skipped")
            tally.count("stale", r.command.kind, other?.state ?? "unknown")
            if (other === undefined) {
              tally.later(
                Effect.logWarning("Delivery command for an unknown occurrence").pipe(Effect.annotateLogs({ key }))
              )
            }
          }
        }
        return { work, pauseMs: 0 }
      })

    // One provider attempt, through the breaker and the rate limit, in plain code: the breaker
    // admits or refuses synchronously, and learns the result as soon as it is known.
    const attempt = async (occurrence: ClaimedOccurrence, span: Tracer.Span, at: number) => {
      const kind = occasionKinds[occurrence.kind as keyof typeof occasionKinds] as
        | (typeof occasionKinds)[keyof typeof occasionKinds]
        | undefined
      if (kind === undefined) {
        return SendOutcome.Permanent({ status: 0, error: `unknown occasion kind ${occurrence.kind}` })
      }
      const admission = breaker.admit(at)
      if (typeof admission === "number") return new BreakerOpen({ retryIn: Duration.millis(admission) })
      let failed = true
      try {
        const wait = rateLimit.reserve(at)
        if (wait > 0) await Runtime.runPromise(runtime, Effect.sleep(wait))
        const outcome = await client.send(
          { key: occurrence.key, email: occurrence.email, message: renderMessage(kind, occurrence) },
          span
        )
        failed = outcome._tag === "Transient" || outcome._tag === "Ambiguous"
        return outcome
      } finally {
        breaker.settle(failed, admission === "probe", clock.unsafeCurrentTimeMillis())
      }
    }

    const finished = yield* Effect.acquireRelease(Queue.unbounded<Decided>(), Queue.shutdown)
    const send = async (work: Claimed) => {
      const startedAt = clock.unsafeCurrentTimeMillis()
      const result = await attempt(work.occurrence, work.span, startedAt)
      const decision = decide(
        work.occurrence,
        result,
        { startedAt: new Date(startedAt), finishedAt: new Date(clock.unsafeCurrentTimeMillis()) },
        settings,
        retry,
        Math.random()
      )
      Queue.unsafeOffer(finished, {
        ...work,
        decision,
        attempt: result._tag === "BreakerOpen" ? undefined : result._tag
      })
    }

    // Claims, sends and outcome writes overlap: `claimers` claim batches as messages arrive and
    // start a send for each claimed occurrence (at most `concurrency` in flight); `recorders`
    // write finished sends in batches and answer their messages. A hanging send holds only itself.
    const permits = new PermitPool(settings.concurrency)
    // Claims held by this worker until their outcome is written: their leases are renewed while
    // the send (or the write) is alive, so a slow provider call is not reclaimed and sent twice.
    const held = new Map<string, string>()
    const launch = (item: Claimed) =>
      send(item).catch((cause) =>
        // Unanswered, the message comes back after `ackWait` and the ledger decides again.
        Runtime.runFork(runtime, Effect.logError("Delivery send failed", { key: item.occurrence.key, cause }))
      ).finally(permits.release)
    // Once the workers stop (the pool is closed), claimed occurrences not yet sent are given back.
    const startSends = async (work: ReadonlyArray<Claimed>) => {
      for (const item of work) held.set(item.occurrence.key, item.occurrence.leaseToken)
      for (let i = 0; i < work.length; i++) {
        const permit = permits.acquire()
        if (typeof permit === "boolean" ? permit : await permit) {
          launch(work[i]!)
          continue
        }
        const at = new Date(clock.unsafeCurrentTimeMillis())
        for (const item of work.slice(i)) {
          Queue.unsafeOffer(finished, {
            ...item,
            decision: released(item.occurrence, { startedAt: at, finishedAt: at }),
            attempt: undefined
          })
        }
        return
      }
    }

    /** Answers one recorded message (synchronously: `ack`/`nak` only queue a protocol line). */
    const reply = (done: Decided, written: boolean, tally: ReplyTally) => {
      const { decision, occurrence } = done
      if (done.attempt !== undefined) tally.count("attempts", occurrence.kind, done.attempt)
      if (!written) {
        // Another delivery of this message re-claimed the row after our lease ran out and settled
        // it first. Our ack could remove the message that its nak still needs (a nak of a
        // superseded delivery is ignored), leaving the row `retrying` with nothing to send it:
        // let the message come back instead, and the ledger decides whether a send is still due.
        tally.nak(done.msg, 1000)
        return finish(done, "superseded")
      }
      if (decision.reply._tag === "Nak") tally.nak(done.msg, Duration.toMillis(decision.reply.delay))
      else tally.ack(done.msg)
      // Not attempted (deferred by an open circuit, released at a stop): counted as such.
      tally.count(
        "outcomes",
        occurrence.kind,
        decision.outcome.attempted ? decision.outcome.state : decision.outcome.outcome
      )
      if (decision.outcome.state === "sent") {
        tally.lateness(occurrence.kind, (tally.at - occurrence.dueAt.getTime()) / 1000)
      }
      finish(done, decision.outcome.state)
    }

    const recordBatch = (batch: Chunk.Chunk<Decided>) =>
      Effect.gen(function*() {
        const items = Chunk.toReadonlyArray(batch)
        const written = yield* ledger.record(
          items.map((d) => d.decision.outcome),
          new Date(yield* Clock.currentTimeMillis),
          settings.runnerId
        ).pipe(
          Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3)))),
          Effect.either
        )
        const tally = replyTally(yield* Clock.currentTimeMillis)
        for (const d of items) {
          if (held.get(d.occurrence.key) === d.occurrence.leaseToken) held.delete(d.occurrence.key)
        }
        if (written._tag === "Left") {
          // Left `sending`: redelivered after the lease, the same key is claimed again and resent.
          tally.later(Effect.logError("Cannot record delivery outcomes; they will be redelivered", written.left.cause))
          for (const d of items) {
            // The provider calls were made all the same.
            if (d.attempt !== undefined) tally.count("attempts", d.occurrence.kind, d.attempt)
            finish(d, "unrecorded")
          }
        } else {
          for (const d of items) reply(d, written.right.has(d.occurrence.key), tally)
        }
        yield* tally.flush
      }).pipe(Effect.withSpan("DeliveryWorker.recordBatch", { attributes: { size: batch.length } }))

    // Shutdown stops these loops only between batches: a batch taken is claimed and each of its
    // occurrences started or given back; an outcome batch taken is written and answered.
    const claimLoop = (take: (max: number) => Effect.Effect<ReadonlyArray<JsMsg>>) =>
      Effect.gen(function*() {
        const batch = yield* take(settings.batchSize)
        const pauseMs = yield* Effect.uninterruptible(Effect.gen(function*() {
          const { pauseMs, work } = yield* claimBatch(batch)
          if (work.length > 0) yield* Effect.promise(() => startSends(work))
          return pauseMs
        }))
        if (pauseMs > 0) yield* Effect.sleep(pauseMs)
      }).pipe(Effect.forever)
    // A recorder that finds a short batch waits `batchWindow` for more: a statement per few
    // outcomes cost Postgres (and this process) more than the wait costs the acks.
    const recordLoop = Effect.gen(function*() {
      const first = yield* Queue.takeBetween(finished, 1, settings.batchSize)
      yield* Effect.uninterruptible(Effect.gen(function*() {
        if (Chunk.size(first) * 2 >= settings.batchSize) return yield* recordBatch(first)
        yield* Effect.sleep(settings.batchWindow)
        yield* recordBatch(
          Chunk.appendAll(first, yield* Queue.takeUpTo(finished, settings.batchSize - Chunk.size(first)))
        )
      }))
    }).pipe(Effect.forever)
    yield* Effect.forkScoped(
      Effect.all(Array.from({ length: recorders }, () => recordLoop), { concurrency: "unbounded" })
    )
    // A graceful stop (SIGTERM, a deploy) drains. Finalizers run in reverse order: first no more
    // sends start (claimed occurrences go back, claimable at once), then the consume loop stops,
    // then this one waits for the sends in flight to finish (bounded by the request timeout) and
    // their outcomes to be recorded and answered, and only then do the recorders stop. Cutting
    // the sends off instead would leave each one ambiguous (sent or not?) and resent later, under
    // the same key, to a provider that may not deduplicate.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const inFlight = permits.inUse
        while (permits.inUse > 0 || (yield* Queue.size(finished)) > 0) yield* Effect.sleep("20 millis")
        yield* Effect.logInfo("Delivery workers drained").pipe(Effect.annotateLogs({ sendsInFlight: inFlight }))
      }).pipe(
        Effect.timeout(Duration.sum(settings.requestTimeout, Duration.seconds(5))),
        Effect.catchAll(() => Effect.logWarning("Delivery workers did not drain in time; the rest is redelivered")),
        Effect.withSpan("DeliveryWorker.drain")
      )
    )
    yield* DurableConsumer.run(
      jetstream,
      names.deliveryStream,
      names.deliveryConsumer,
      settings.fetchBuffer,
      (take) => Effect.all(Array.from({ length: claimers }, () => claimLoop(take)), { concurrency: "unbounded" })
    ).pipe(Effect.forkScoped)
    yield* Effect.addFinalizer(() => Effect.sync(() => permits.close()))

    // `renewLeases` of the claims in flight, three times per lease.
    yield* Effect.suspend(() =>
      ledger.renewLeases([...held].map(([key, leaseToken]) => ({ key, leaseToken })), ackWaitMs)
    ).pipe(
      Effect.catchAll((error) => Effect.logWarning("Cannot renew delivery leases", error.cause)),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(100, Math.floor(ackWaitMs / 3))))),
      Effect.forkScoped
    )

    // Consumer backlog for /metrics and readiness.
    yield* Effect.tryPromise(() => manager.consumers.info(names.deliveryStream, names.deliveryConsumer)).pipe(
      Effect.flatMap((info) => setConsumerPending(names.deliveryConsumer, info.num_pending, info.num_ack_pending)),
      Effect.ignore,
      Effect.repeat(Schedule.spaced("5 seconds")),
      Effect.forkScoped
    )
    yield* Effect.logInfo("Delivery workers started").pipe(
      Effect.annotateLogs({ consumer: names.deliveryConsumer, provider: settings.emailServiceUrl })
    )
  }).pipe(Effect.withSpan("DeliveryWorker.start"))
)
