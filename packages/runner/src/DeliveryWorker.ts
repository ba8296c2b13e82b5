import { DeliveryCommand, occasionKinds, renderMessage } from "@birthday/domain"
import { type ClaimedOccurrence, DeliveryLedger } from "@birthday/ledger/DeliveryLedger"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { Chunk, Clock, Duration, Effect, Layer, Option, Queue, Runtime, Schedule, Schema, type Tracer } from "effect"
import { AckPolicy, DeliverPolicy, type JsMsg, nanos } from "nats"
import { AdaptiveConcurrency, adaptiveDefaults } from "./AdaptiveConcurrency.js"
import { BreakerOpen, CircuitBreaker } from "./CircuitBreaker.js"
import { DeliverySettings } from "./DeliveryConfig.js"
import { abandonedSend, decide, type Decision, type SendWithheld } from "./DeliveryDecision.js"
import { setConcurrencyLimit, setConsumerPending } from "./DeliveryMetrics.js"
import { deliveryRetry } from "./DeliveryRetry.js"
import { type ConsumedMessages, DurableConsumer } from "./DurableConsumer.js"
import { EmailClient, SendOutcome } from "./EmailClient.js"
import { fiberlessSpans } from "./FiberlessSpans.js"
import { Nats } from "./Nats.js"
import { PermitPool } from "./PermitPool.js"
import { ProviderRateLimit } from "./ProviderRateLimit.js"
import { type ReplyTally, replyTally } from "./ReplyTally.js"
import { parentSpan } from "./TraceHeaders.js"

/** The fields of a `DeliveryCommand` the worker reads; the ledger row is the authority on the rest. */
const WorkerCommand = Schema.Struct({
  key: DeliveryCommand.fields.key,
  kind: DeliveryCommand.fields.kind,
  version: DeliveryCommand.fields.version,
  /** As published (ISO 8601); read only to hand back a command that arrived before it is due. */
  dueAt: Schema.optional(Schema.String)
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
 * A command that arrives more than this before its due time goes back to the broker until it is
 * due (`nak` with that delay). Slices queue greetings `SLICE_FIRE_AHEAD` early; holding them here
 * would tie up send permits, and the broker keeps them safe whatever happens to this process. A
 * command due sooner is claimed now and waits out the rest (nothing is sent before it is due).
 */
const earlyMs = 25

/** Claim statements and outcome writes in flight at once. */
const claimers = 4
const recorders = 2

/** Pause between claims, and between outcome writes, while the ledger is unreachable. */
const ledgerUnavailableMs = 1_000

/** How long a claimed send waits in place for the provider's pace after a 429 before going back. */
const throttleHoldMs = 10_000

/** Outcome writes are retried until written: quickly at first, then every second. */
const recordRetry = Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("1 second")))

type ValidReceived = Received & { readonly command: WorkerCommand }

/**
 * The delivery workers: a durable pull consumer whose messages are claimed in batches (one SQL
 * statement each), sent concurrently through the rate limit and the circuit breaker, recorded in
 * batches, and only then acknowledged, or redelivered later with `nak(delay)`.
 *
 * Nothing claimed waits: a claim asks for no more occurrences than there are free sends under
 * the adaptive concurrency limit and than the provider's rate lets start within
 * `DELIVERY_CLAIM_HORIZON`. Waiting uses no redelivery: while the circuit is open (one message at
 * a time while it probes), the ledger is unreachable (a claim or an outcome write failing) or the
 * rate limit is full, no message is taken, and every message buffered, held or in flight is kept
 * alive with `working()`; a decided outcome is kept and written once the ledger answers again.
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
    const horizonMs = Duration.toMillis(settings.claimHorizon)
    const timeoutMs = Duration.toMillis(settings.requestTimeout)

    const consumerConfig = {
      durable_name: names.deliveryConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: names.deliverySubjects,
      ack_wait: nanos(Duration.toMillis(settings.ackWait)),
      max_deliver: settings.maxDeliver,
      max_ack_pending: Math.max(settings.fetchBuffer * 4, 20_000)
    }
    // Staleness is judged by the consumer's ack_wait in force (the last runner to start sets it),
    // read back here and on every backlog poll, not by this runner's own setting.
    let ackWaitMs = Duration.toMillis(settings.ackWait)
    const inForce = (config: { readonly ack_wait?: number }) => {
      if (config.ack_wait !== undefined && config.ack_wait > 0) ackWaitMs = config.ack_wait / 1_000_000
    }
    inForce(yield* DurableConsumer.ensure(manager, names.deliveryStream, consumerConfig))

    // The consumer's `release`, set once the consume loop runs (messages are only taken then).
    let release: (msg: JsMsg) => void = () => undefined
    const tallyAt = (at: number) => replyTally(at, release)

    // Set while a claim, an outcome write or a lease renewal cannot reach the ledger: no new send starts.
    let ledgerDown = false
    let renewalsFailing = false
    const leaseMs = Duration.toMillis(settings.lease)
    // Until when (this process's clock) each claim held here is surely still ours: the local time
    // a claim or renewal statement was sent plus the lease. Measured from before the round trip,
    // so it errs early; a process paused past it (SIGSTOP, a long GC, a frozen VM) finds it lapsed.
    const leaseUntil = new Map<string, number>()

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
     * Decodes a batch, terminates what cannot be decoded and hands back until its due time what
     * arrived early; returns the rest.
     */
    const receiveBatch = (batch: ReadonlyArray<JsMsg>) =>
      Effect.gen(function*() {
        const tally = tallyAt(clock.unsafeCurrentTimeMillis())
        const valid: Array<ValidReceived> = []
        for (const msg of batch) {
          const r = receive(msg)
          if (r.command !== undefined) {
            const untilDue = r.command.dueAt === undefined ? NaN : Date.parse(r.command.dueAt) - tally.at
            if (untilDue > earlyMs) {
              tally.nak(msg, untilDue)
              finish(r, "early")
              continue
            }
            valid.push(r as ValidReceived)
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
        yield* tally.flush
        return valid
      })

    /**
     * Claims a batch in one statement and answers at once every message that needs no send.
     * Returns the claimed work, or `undefined` when the ledger could not be reached (the batch is
     * kept, alive, and claimed again).
     */
    const claimValid = (valid: ReadonlyArray<ValidReceived>) =>
      Effect.gen(function*() {
        const tally = tallyAt(clock.unsafeCurrentTimeMillis())
        const at = tally.at
        const claim = yield* ledger.claim(
          valid.map((r) => ({ key: r.command.key, version: r.command.version })),
          new Date(at),
          leaseMs
        ).pipe(Effect.either)
        if (claim._tag === "Left") {
          yield* Effect.logError("Cannot claim a delivery batch; holding it until the ledger answers", claim.left.cause)
          return undefined
        }
        const claimed = new Map(claim.right.claimed.map((o) => [o.key, o]))
        const cancelled = new Set(claim.right.cancelled)
        const late = new Set(claim.right.late)
        const unclaimed = new Map(claim.right.unclaimed.map((o) => [o.key, o]))
        const work: Array<Claimed> = []
        const workingSeq = new Map<string, number>()
        const ack = (r: ValidReceived, result: string, outcome: string) => {
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
            leaseUntil.set(key, at + leaseMs)
            work.push({ ...r, occurrence })
            continue
          }
          const owner = workingSeq.get(key)
          if (owner !== undefined) {
            // Another copy for a key this batch is sending. The same stream message redelivered
            // must not be answered (an ack would settle the copy being worked on); a separate
            // message for the key (a republish) is a duplicate and is acknowledged.
            if (owner === r.msg.seq) {
              release(r.msg)
              finish(r, "redelivered")
            } else ack(r, "duplicate", "skipped")
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
        yield* tally.flush
        return work
      }).pipe(Effect.withSpan("DeliveryWorker.claimBatch", { attributes: { size: valid.length } }))

    // Requests in flight at the provider, learnt from its latency (or fixed at the configured most).
    const adaptive = settings.adaptiveConcurrency
      ? new AdaptiveConcurrency(adaptiveDefaults(timeoutMs, settings.concurrencyMin, settings.concurrency))
      : undefined
    const permits = new PermitPool(adaptive?.limit ?? settings.concurrency)

    // A send starts only with this much of the lease (and of the deadline) left, so the request
    // reaches the provider while held and before the deadline, not just leaves before it.
    const sendMarginMs = Math.min(1000, Math.floor(leaseMs / 5))
    const withheld = (occurrence: ClaimedOccurrence, now: number): SendWithheld | undefined =>
      now + sendMarginMs > occurrence.deadlineAt.getTime()
        ? { _tag: "Withheld", reason: "deadline" }
        : now + sendMarginMs >= (leaseUntil.get(occurrence.key) ?? 0)
        ? { _tag: "Withheld", reason: "lease" }
        : undefined

    // One provider attempt, through the breaker and the rate limit, in plain code: the breaker
    // admits or refuses synchronously, and learns the result as soon as it is known.
    const attempt = async (occurrence: ClaimedOccurrence, span: Tracer.Span, at: number) => {
      const kind = occasionKinds[occurrence.kind as keyof typeof occasionKinds] as
        | (typeof occasionKinds)[keyof typeof occasionKinds]
        | undefined
      if (kind === undefined) {
        return SendOutcome.Permanent({ status: 0, error: `unknown occasion kind ${occurrence.kind}` })
      }
      const before = withheld(occurrence, at)
      if (before !== undefined) return before
      const admission = breaker.admit(at)
      if (typeof admission === "number") return new BreakerOpen({ retryIn: Duration.millis(admission) })
      let failed = true
      let made = true
      try {
        const wait = rateLimit.reserve(at)
        if (wait > 0) await Runtime.runPromise(runtime, Effect.sleep(wait))
        // The last look before the provider call: the wait may have outlived the deadline or the
        // lease (a paused process resumes here after another worker took its claims over).
        const late = withheld(occurrence, clock.unsafeCurrentTimeMillis())
        if (late !== undefined) {
          made = false
          breaker.abandon(admission === "probe", clock.unsafeCurrentTimeMillis())
          return late
        }
        const inFlight = permits.inUse
        const started = clock.unsafeCurrentTimeMillis()
        const outcome = await client.send(
          { key: occurrence.key, email: occurrence.email, message: renderMessage(kind, occurrence) },
          span
        )
        const finishedAt = clock.unsafeCurrentTimeMillis()
        failed = outcome._tag === "Transient" || outcome._tag === "Ambiguous"
        if (outcome._tag === "RateLimited") rateLimit.throttled(finishedAt, outcome.retryAfter)
        if (adaptive !== undefined && outcome._tag !== "RateLimited") {
          // A drop: no answer in time, or no connection. Other answers are latency samples,
          // except fast failures, which say nothing about load.
          const drop = outcome._tag === "Ambiguous" || (outcome._tag === "Transient" && outcome.status === null)
          if (drop || outcome._tag === "Sent") {
            if (adaptive.observe(finishedAt - started, drop, inFlight)) permits.setLimit(adaptive.limit)
          }
        }
        return outcome
      } finally {
        if (made) breaker.settle(failed, admission === "probe", clock.unsafeCurrentTimeMillis())
      }
    }

    const finished = yield* Effect.acquireRelease(Queue.unbounded<Decided>(), Queue.shutdown)
    const send = async (work: Claimed) => {
      const claimedAt = clock.unsafeCurrentTimeMillis()
      if (work.occurrence.reclaimed === true && settings.ambiguousPolicy === "stop") {
        const at = new Date(claimedAt)
        Queue.unsafeOffer(finished, {
          ...work,
          decision: abandonedSend(work.occurrence, { startedAt: at, finishedAt: at }),
          attempt: undefined
        })
        return
      }
      // Fired by a slice on another runner whose clock reads a few milliseconds ahead of this
      // one's (each estimates database time to within its round trip): by this clock, which
      // stamps sent_at, it is not due yet. Nothing goes out before it is due.
      // A timer may wake a millisecond before its target (Node's timers and the offset clock round
      // differently): read the clock again after every wait, and send only once it says due.
      let startedAt = clock.unsafeCurrentTimeMillis()
      while (startedAt < work.occurrence.dueAt.getTime()) {
        await Runtime.runPromise(runtime, Effect.sleep(work.occurrence.dueAt.getTime() - startedAt))
        startedAt = clock.unsafeCurrentTimeMillis()
      }
      let result: Awaited<ReturnType<typeof attempt>> = await attempt(work.occurrence, work.span, startedAt)
      // A 429 slowed the whole client; while this claim is young the send waits here for the
      // provider's pace (no attempt used, nothing redelivered) instead of going back.
      while (
        result._tag === "RateLimited" &&
        rateLimit.waitTime(clock.unsafeCurrentTimeMillis()) + clock.unsafeCurrentTimeMillis() - claimedAt <
          throttleHoldMs
      ) {
        startedAt = clock.unsafeCurrentTimeMillis()
        result = await attempt(work.occurrence, work.span, startedAt)
      }
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
        attempt: result._tag === "BreakerOpen" || result._tag === "Withheld" ? undefined : result._tag
      })
    }

    // Claims, sends and outcome writes overlap: `claimers` claim batches as messages arrive and
    // start a send for each claimed occurrence (each under a permit taken before the claim);
    // `recorders` write finished sends in batches and answer their messages. A hanging send
    // holds only itself.
    // Claims held by this worker until their outcome is written: their leases are renewed while
    // the send (or the write) is alive, so a slow provider call is not reclaimed and sent twice.
    const held = new Map<string, string>()
    const launch = (item: Claimed) => {
      held.set(item.occurrence.key, item.occurrence.leaseToken)
      return launchSend(item)
    }
    const launchSend = (item: Claimed) =>
      send(item).catch((cause) => {
        // Unanswered, the message comes back after `ackWait` and the ledger decides again.
        release(item.msg)
        Runtime.runFork(runtime, Effect.logError("Delivery send failed", { key: item.occurrence.key, cause }))
      }).finally(permits.release)

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
      // Not attempted (deferred by an open circuit, throttled, released at a stop): counted as such.
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

    // A decided outcome is kept until it is written: dropping a `sent` one would leave the row
    // `sending`, to be sent again once its lease runs out. Each write and its replies are one
    // uninterruptible step; the pauses between tries are not, so a stop never hangs on them.
    const recordBatch = (batch: Chunk.Chunk<Decided>) =>
      Effect.gen(function*() {
        const items = Chunk.toReadonlyArray(batch)
        const outcomes = items.map((d) => d.decision.outcome)
        let failures = 0
        const write = Effect.uninterruptible(Effect.gen(function*() {
          const written = yield* ledger.record(outcomes, new Date(yield* Clock.currentTimeMillis), settings.runnerId)
          for (const d of items) {
            if (held.get(d.occurrence.key) === d.occurrence.leaseToken) {
              held.delete(d.occurrence.key)
              leaseUntil.delete(d.occurrence.key)
            }
          }
          const tally = tallyAt(yield* Clock.currentTimeMillis)
          for (const d of items) reply(d, written.has(d.occurrence.key), tally)
          yield* tally.flush
        })).pipe(
          Effect.tapError((error) =>
            Effect.suspend(() => {
              ledgerDown = true
              return failures++ === 0
                ? Effect.logError("Cannot record delivery outcomes; keeping them until the ledger answers", error.cause)
                : Effect.void
            })
          )
        )
        yield* write.pipe(Effect.retry(recordRetry), Effect.orDie)
        ledgerDown = false
        if (failures > 0) {
          yield* Effect.logInfo("Delivery outcomes recorded after the ledger came back").pipe(
            Effect.annotateLogs({ outcomes: items.length, failedTries: failures })
          )
        }
      }).pipe(Effect.withSpan("DeliveryWorker.recordBatch", { attributes: { size: batch.length } }))

    /**
     * How long the claim loop waits before taking more, and how many it may take: nothing while
     * the circuit is open or the ledger unreachable, one message (the probe) while the circuit
     * is not closed, no more than the rate limit lets start within the claim horizon.
     */
    const admission = Effect.gen(function*() {
      if (ledgerDown || renewalsFailing) return { waitMs: ledgerUnavailableMs, room: 0 }
      const circuitWait = Duration.toMillis(yield* breaker.waitTime)
      if (circuitWait > 0) return { waitMs: Math.min(circuitWait, 1_000), room: 0 }
      const probing = (yield* breaker.state) !== "Closed"
      const at = clock.unsafeCurrentTimeMillis()
      const capacity = rateLimit.capacity(at, horizonMs)
      if (capacity < 1) return { waitMs: Math.max(5, Math.min(rateLimit.waitTime(at) - horizonMs, 1_000)), room: 0 }
      return { waitMs: 0, room: Math.min(settings.batchSize, capacity, probing ? 1 : Infinity) }
    })

    // Shutdown stops these loops only between steps: a batch claimed is started; a batch held
    // while the ledger is unreachable is answered (nak: at once, to whichever worker is left).
    const claimLoop = ({ take }: ConsumedMessages) =>
      Effect.gen(function*() {
        const { room, waitMs } = yield* admission
        if (room < 1) return yield* Effect.sleep(waitMs)
        // Only the waits can be interrupted: once messages are taken, every permit taken for them
        // is either used by a send launched or given back, and every message is claimed or answered.
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const granted = yield* restore(permits.acquireUpToEffect(room))
            // The pool is closed: the workers are stopping.
            if (granted === 0) return yield* restore(Effect.never)
            const batch = yield* restore(take(granted)).pipe(
              Effect.onInterrupt(() => Effect.sync(() => permits.releaseMany(granted)))
            )
            permits.releaseMany(granted - batch.length)
            const valid = yield* receiveBatch(batch)
            permits.releaseMany(batch.length - valid.length)
            for (;;) {
              const work = yield* claimValid(valid)
              if (work !== undefined) {
                permits.releaseMany(valid.length - work.length)
                for (const item of work) launch(item)
                ledgerDown = false
                return
              }
              ledgerDown = true
              yield* restore(Effect.sleep(ledgerUnavailableMs)).pipe(Effect.onInterrupt(() =>
                Effect.sync(() => {
                  const tally = tallyAt(clock.unsafeCurrentTimeMillis())
                  for (const r of valid) {
                    tally.nak(r.msg, 0)
                    finish(r, "stopped")
                  }
                  permits.releaseMany(valid.length)
                })
              ))
            }
          })
        )
      }).pipe(Effect.forever)

    // A recorder that finds a short batch waits `batchWindow` for more: a statement per few
    // outcomes cost Postgres (and this process) more than the wait costs the acks. Outcomes taken
    // from the queue are counted in `recording` until written, so the drain waits for them too;
    // only the pauses between write retries can be interrupted.
    let recording = 0
    const recordLoop = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const first = yield* restore(Queue.takeBetween(finished, 1, settings.batchSize))
        recording++
        yield* Effect.gen(function*() {
          const batch = Chunk.size(first) * 2 >= settings.batchSize ? first : Chunk.appendAll(
            first,
            yield* Effect.zipRight(
              Effect.sleep(settings.batchWindow),
              Queue.takeUpTo(finished, settings.batchSize - Chunk.size(first))
            )
          )
          yield* restore(recordBatch(batch))
        }).pipe(Effect.ensuring(Effect.sync(() => recording--)))
      })
    ).pipe(Effect.forever)
    yield* Effect.forkScoped(
      Effect.all(Array.from({ length: recorders }, () => recordLoop), { concurrency: "unbounded" })
    )
    // A graceful stop (SIGTERM, a deploy) drains. Finalizers run in reverse order: first no more
    // sends start, then the consume loop stops, then this one waits for the sends in flight to
    // finish (bounded by the request timeout) and their outcomes to be recorded and answered, and
    // only then do the recorders stop. Cutting the sends off instead would leave each one
    // ambiguous (sent or not?) and resent later, under the same key, to a provider that may not
    // deduplicate.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const inFlight = permits.inUse
        while (permits.inUse > 0 || recording > 0 || (yield* Queue.size(finished)) > 0) {
          yield* Effect.sleep("20 millis")
        }
        yield* Effect.logInfo("Delivery workers drained").pipe(Effect.annotateLogs({ sendsInFlight: inFlight }))
      }).pipe(
        Effect.timeout(Duration.sum(settings.requestTimeout, Duration.seconds(5))),
        Effect.catchAll(() => Effect.logWarning("Delivery workers did not drain in time; the rest is redelivered")),
        Effect.withSpan("DeliveryWorker.drain")
      )
    )
    yield* DurableConsumer.run(
      jetstream,
      manager,
      names.deliveryStream,
      consumerConfig,
      { bufferSize: settings.fetchBuffer, heartbeat: Duration.millis(Math.max(500, ackWaitMs / 3)) },
      (messages) => {
        release = messages.release
        return Effect.all(Array.from({ length: claimers }, () => claimLoop(messages)), { concurrency: "unbounded" })
      }
    ).pipe(Effect.forkScoped)
    yield* Effect.addFinalizer(() => Effect.sync(() => permits.close()))

    // `renewLeases` of the claims in flight (sends and outcomes not yet written), three times per
    // lease: a short lease fails over a crashed runner's claims fast, and a renewed one never runs
    // out under a slow send. While renewals fail (the ledger is unreachable) no new send starts.
    yield* Effect.suspend(() => {
      if (held.size === 0) return Effect.void
      const leases = [...held].map(([key, leaseToken]) => ({ key, leaseToken }))
      const sentAt = clock.unsafeCurrentTimeMillis()
      return ledger.renewLeases(leases, leaseMs).pipe(
        Effect.tap((renewed) =>
          Effect.sync(() => {
            for (const { key, leaseToken } of leases) {
              // A claim that was not renewed is lost (taken over, or settled): never sent from here.
              if (held.get(key) === leaseToken) leaseUntil.set(key, renewed.has(key) ? sentAt + leaseMs : 0)
            }
          })
        )
      )
    }).pipe(
      // A keep-alive: out of traces unless TRACE_MAINTENANCE_RATIO samples it.
      maintenanceRound,
      Effect.tap(() => Effect.sync(() => (renewalsFailing = false))),
      Effect.catchAll((error) =>
        Effect.suspend(() => {
          const first = !renewalsFailing
          renewalsFailing = true
          return first
            ? Effect.logWarning("Cannot renew delivery leases; no new sends until it can", error.cause)
            : Effect.void
        })
      ),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(100, Math.floor(leaseMs / 3))))),
      Effect.forkScoped
    )

    // Consumer backlog and the ack_wait in force, for /metrics, readiness and staleness.
    yield* Effect.tryPromise(() => manager.consumers.info(names.deliveryStream, names.deliveryConsumer)).pipe(
      Effect.tap((info) => inForce(info.config)),
      Effect.flatMap((info) => setConsumerPending(names.deliveryConsumer, info.num_pending, info.num_ack_pending)),
      Effect.ignore,
      Effect.zipRight(Effect.suspend(() => setConcurrencyLimit(settings.providerName, permits.limitNow))),
      Effect.repeat(Schedule.spaced("5 seconds")),
      Effect.forkScoped
    )
    yield* Effect.logInfo("Delivery workers started").pipe(
      Effect.annotateLogs({ consumer: names.deliveryConsumer, provider: settings.emailServiceUrl })
    )
  }).pipe(Effect.withSpan("DeliveryWorker.start"))
)
