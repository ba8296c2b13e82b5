import { DeliveryCommand, occasionKinds, renderMessage } from "@birthday/domain"
import {
  Chunk,
  Clock,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Layer,
  Option,
  Queue,
  Random,
  Schedule,
  Schema,
  type Tracer
} from "effect"
import { AckPolicy, DeliverPolicy, type JsMsg, nanos } from "nats"
import { CircuitBreaker } from "./CircuitBreaker.js"
import { DeliverySettings } from "./DeliveryConfig.js"
import { decide, type Decision } from "./DeliveryDecision.js"
import { type ClaimedOccurrence, DeliveryLedger } from "./DeliveryLedger.js"
import { countAttempt, countOutcome, recordLateness, setConsumerPending } from "./DeliveryMetrics.js"
import { deliveryRetry } from "./DeliveryRetry.js"
import { DurableConsumer } from "./DurableConsumer.js"
import { EmailClient, SendOutcome } from "./EmailClient.js"
import { ack, nak, replyFailed, term } from "./MessageReply.js"
import { Nats } from "./Nats.js"
import { ProviderRateLimit } from "./ProviderRateLimit.js"
import { parentSpan } from "./TraceHeaders.js"

/** One received message, with its consumer span (ended when the message is answered). */
interface Received {
  readonly msg: JsMsg
  readonly span: Tracer.Span
  readonly command: DeliveryCommand | undefined
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

/** What one batch's replies add to the metrics, applied once per batch. */
interface ReplyTally {
  readonly at: number
  readonly attempts: Map<string, number>
  readonly outcomes: Map<string, number>
  readonly lateness: Array<readonly [kind: string, seconds: number]>
  readonly failures: Array<{ readonly what: string; readonly msg: JsMsg; readonly cause: unknown }>
  readonly count: (into: Map<string, number>, kind: string, label: string) => void
  readonly flush: Effect.Effect<void>
}

const replyTally = (at: number): ReplyTally => {
  const attempts = new Map<string, number>()
  const outcomes = new Map<string, number>()
  const lateness: Array<readonly [string, number]> = []
  const failures: ReplyTally["failures"] = []
  const split = (id: string) => id.split("\u0000") as [string, string]
  return {
    at,
    attempts,
    outcomes,
    lateness,
    failures,
    count: (into, kind, label) => {
      const id = `${kind}\u0000${label}`
      into.set(id, (into.get(id) ?? 0) + 1)
    },
    flush: Effect.suspend(() =>
      Effect.all([
        Effect.forEach(attempts, ([id, n]) => countAttempt(...split(id), n), { discard: true }),
        Effect.forEach(outcomes, ([id, n]) => countOutcome(...split(id), n), { discard: true }),
        Effect.forEach(lateness, ([kind, seconds]) => recordLateness(kind, seconds), { discard: true }),
        Effect.forEach(failures, ({ cause, msg, what }) => replyFailed(what, msg)(cause), { discard: true })
      ], { discard: true })
    )
  }
}

const decodeCommand = Schema.decodeUnknownOption(Schema.parseJson(DeliveryCommand))
const decoder = new TextDecoder()

/** Claim statements and outcome writes in flight at once. */
const claimers = 4
const recorders = 4

/** Reclaim backoff when the ledger is unreachable. */
const ledgerUnavailableDelay = Duration.seconds(2)

/**
 * The delivery workers: a durable pull consumer whose messages are claimed in batches (one SQL
 * statement each), sent concurrently through the rate limit and the circuit breaker, recorded in
 * batches, and only then acknowledged, or redelivered later with `nak(delay)`.
 */
export const DeliveryWorkerLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* DeliverySettings
    const { jetstream, manager, names } = yield* Nats
    const ledger = yield* DeliveryLedger
    const client = yield* EmailClient
    const breaker = yield* CircuitBreaker
    const rateLimit = yield* ProviderRateLimit
    const retry = deliveryRetry(settings)
    const now = Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (ms) => new Date(ms))

    yield* DurableConsumer.ensure(manager, names.deliveryStream, {
      durable_name: names.deliveryConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: names.deliverySubjects,
      ack_wait: nanos(Duration.toMillis(settings.ackWait)),
      max_deliver: settings.maxDeliver,
      max_ack_pending: Math.max(settings.fetchBuffer * 4, 20_000)
    })

    const finish = (received: Received, result: string) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          received.span.attribute("delivery.result", result)
          received.span.end(clock.unsafeCurrentTimeNanos(), Exit.void)
        })
      )

    const receive = (msg: JsMsg) =>
      Effect.gen(function*() {
        const command = Option.getOrUndefined(decodeCommand(decoder.decode(msg.data)))
        const span = yield* Effect.makeSpan("DeliveryWorker.consume", {
          captureStackTrace: false,
          kind: "consumer",
          parent: Option.getOrUndefined(parentSpan(msg.headers)),
          attributes: {
            "messaging.system": "nats",
            "messaging.destination.name": msg.subject,
            "messaging.message.delivery_count": msg.info.redeliveryCount,
            "delivery.key": command?.key ?? ""
          }
        })
        return { msg, span, command } satisfies Received
      })

    // Claims a batch in one statement; answers at once every message that needs no send.
    const claimBatch = (batch: Chunk.Chunk<JsMsg>) =>
      Effect.gen(function*() {
        const received = yield* Effect.forEach(batch, receive)
        const valid: Array<Received & { readonly command: DeliveryCommand }> = []
        for (const r of received) {
          if (r.command === undefined) {
            yield* Effect.logError("Undecodable delivery command; terminating it").pipe(
              Effect.annotateLogs({ subject: r.msg.subject, seq: r.msg.seq })
            )
            yield* term(r.msg, "undecodable DeliveryCommand")
            yield* finish(r, "undecodable")
          } else {
            valid.push(r as Received & { readonly command: DeliveryCommand })
          }
        }
        if (valid.length === 0) return []
        // While the circuit is open nothing is claimed: the messages come back when it may close
        // (spread by jitter), no attempt is used, and this stage sleeps so that nothing more is
        // pulled meanwhile: no redelivery churn while the provider is down.
        const wait = yield* breaker.waitTime
        if (Duration.toMillis(wait) > 0) {
          yield* Effect.forEach(valid, (r) =>
            Effect.flatMap(Random.nextRange(1, 1.25), (jitter) =>
              Effect.zipRight(nak(r.msg, Duration.times(wait, jitter)), finish(r, "deferred"))), { discard: true })
          yield* Effect.sleep(wait)
          return []
        }
        const at = yield* now
        const claim = yield* ledger.claim(
          valid.map((r) =>
            r.command.key
          ),
          at,
          new Date(at.getTime() - Duration.toMillis(settings.ackWait))
        ).pipe(Effect.either)
        if (claim._tag === "Left") {
          yield* Effect.logError("Cannot claim a delivery batch; it will be redelivered", claim.left.cause)
          yield* Effect.forEach(
            valid,
            (r) =>
              Effect.zipRight(nak(r.msg, ledgerUnavailableDelay), finish(r, "ledger")),
            {
              discard: true
            }
          )
          return []
        }
        const claimed = new Map(claim.right.claimed.map((o) => [o.key, o]))
        const cancelled = new Set(claim.right.cancelled)
        const unclaimed = new Map(claim.right.unclaimed.map((o) => [o.key, o]))
        const work: Array<Claimed> = []
        const workingSeq = new Map<string, number>()
        yield* Effect.forEach(valid, (r) => {
          const key = r.command.key
          const occurrence = claimed.get(key)
          if (occurrence !== undefined) {
            claimed.delete(key)
            workingSeq.set(key, r.msg.seq)
            work.push({ ...r, occurrence })
            return Effect.void
          }
          const owner = workingSeq.get(key)
          if (owner !== undefined) {
            // Another copy for a key this batch is sending. The same stream message redelivered
            // must not be answered (an ack would settle the copy being worked on); a separate
            // message for the key (a republish) is a duplicate and is acknowledged.
            return owner === r.msg.seq
              ? finish(r, "redelivered")
              : Effect.all([ack(r.msg), countOutcome(r.command.kind, "skipped"), finish(r, "duplicate")])
          }
          if (cancelled.has(key)) {
            return Effect.all([ack(r.msg), countOutcome(r.command.kind, "cancelled"), finish(r, "cancelled")])
          }
          const other = unclaimed.get(key)
          if (other?.state === "sending") {
            // Another worker holds it, or one died holding it: look again when its lease runs out.
            const leaseLeft = other.updatedAt.getTime() + Duration.toMillis(settings.ackWait) - at.getTime()
            return Effect.zipRight(nak(r.msg, Duration.millis(Math.max(1000, leaseLeft + 1000))), finish(r, "leased"))
          }
          if (other?.state === "enqueued" || other?.state === "retrying") {
            // Claimable, yet not claimed: a concurrent claim of this key (another batch or
            // runner) won the row lock; this statement's snapshot still shows the old state.
            // Never acknowledge it: it may be the very message that claim is working on.
            return Effect.zipRight(nak(r.msg, Duration.seconds(1)), finish(r, "contended"))
          }
          if (other?.state === "pending") {
            const dueIn = other.dueAt.getTime() - at.getTime()
            return Effect.zipRight(
              nak(r.msg, Duration.millis(Math.min(Math.max(1000, dueIn), 60_000))),
              finish(r, "early")
            )
          }
          // Sent, dead, expired, cancelled, ambiguous or unknown: nothing to send, ever. This is
          // what makes redelivered and republished commands harmless.
          return Effect.all([
            ack(r.msg),
            countOutcome(r.command.kind, "skipped"),
            finish(r, other === undefined ? "unknown" : `skipped:${other.state}`),
            other === undefined
              ? Effect.logWarning("Delivery command for an unknown occurrence").pipe(Effect.annotateLogs({ key }))
              : Effect.void
          ])
        }, { discard: true })
        return work
      }).pipe(Effect.withSpan("DeliveryWorker.claimBatch", { attributes: { size: batch.length } }))

    const send = (work: Claimed) =>
      Effect.gen(function*() {
        const { occurrence } = work
        const startedAt = yield* now
        const kind = occasionKinds[occurrence.kind as keyof typeof occasionKinds] as
          | (typeof occasionKinds)[keyof typeof occasionKinds]
          | undefined
        const result = kind === undefined
          ? SendOutcome.Permanent({ status: 0, error: `unknown occasion kind ${occurrence.kind}` })
          : yield* breaker.protect(
            Effect.zipRight(
              rateLimit.take,
              client.send({ key: occurrence.key, email: occurrence.email, message: renderMessage(kind, occurrence) })
            ),
            (outcome) => outcome._tag === "Transient" || outcome._tag === "Ambiguous"
          ).pipe(Effect.merge)
        if (result._tag !== "Sent") yield* Effect.logDebug("Provider call did not send", result)
        const finishedAt = yield* now
        const decision = yield* decide(occurrence, result, { startedAt, finishedAt }, settings, retry)
        return { ...work, decision, attempt: result._tag === "BreakerOpen" ? undefined : result._tag } satisfies Decided
      }).pipe(Effect.withParentSpan(work.span))

    /**
     * Answers one recorded message, synchronously (`ack`/`nak` only queue a protocol line): the
     * reply stage of a batch is a plain loop, and its metrics are counted once per batch.
     */
    const replyNow = (done: Decided, written: boolean, tally: ReplyTally, endNanos: bigint) => {
      const { decision, occurrence } = done
      const answer = (reply: () => void, what: string) => {
        try {
          reply()
        } catch (cause) {
          tally.failures.push({ what, msg: done.msg, cause })
        }
      }
      const end = (result: string) => {
        done.span.attribute("delivery.result", result)
        done.span.end(endNanos, Exit.void)
      }
      if (done.attempt !== undefined) tally.count(tally.attempts, occurrence.kind, done.attempt)
      if (!written) {
        // Another delivery of this message re-claimed the row after our lease ran out and settled
        // it first. Our ack could remove the message that its nak still needs (a nak of a
        // superseded delivery is ignored), leaving the row `retrying` with nothing to send it:
        // let the message come back instead, and the ledger decides whether a send is still due.
        answer(() => done.msg.nak(1000), "nak")
        return end("superseded")
      }
      if (decision.reply._tag === "Nak") {
        const delay = Math.max(1, Math.ceil(Duration.toMillis(decision.reply.delay)))
        answer(() => done.msg.nak(delay), "nak")
      } else answer(() => done.msg.ack(), "ack")
      tally.count(
        tally.outcomes,
        occurrence.kind,
        decision.outcome.outcome === "deferred" ? "deferred" : decision.outcome.state
      )
      if (decision.outcome.state === "sent") {
        tally.lateness.push([occurrence.kind, (tally.at - occurrence.dueAt.getTime()) / 1000])
      }
      end(decision.outcome.state)
    }

    const recordBatch = (batch: Chunk.Chunk<Decided>) =>
      Effect.gen(function*() {
        const items = Chunk.toReadonlyArray(batch)
        const written = yield* ledger.record(items.map((d) => d.decision.outcome), yield* now, settings.runnerId).pipe(
          Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3)))),
          Effect.either
        )
        if (written._tag === "Left") {
          // Left `sending`: redelivered after the lease, the same key is claimed again and resent.
          yield* Effect.logError("Cannot record delivery outcomes; they will be redelivered", written.left.cause)
          // The provider calls were made all the same.
          const tally = replyTally(yield* Clock.currentTimeMillis)
          for (const d of items) if (d.attempt !== undefined) tally.count(tally.attempts, d.occurrence.kind, d.attempt)
          yield* tally.flush
          return yield* Effect.forEach(items, (d) => finish(d, "unrecorded"), { discard: true })
        }
        const at = yield* Clock.currentTimeMillis
        const endNanos = yield* Clock.currentTimeNanos
        const tally = replyTally(at)
        for (const d of items) replyNow(d, written.right.has(d.occurrence.key), tally, endNanos)
        yield* tally.flush
      }).pipe(Effect.withSpan("DeliveryWorker.recordBatch", { attributes: { size: batch.length } }))

    // Claims, sends and outcome writes overlap: `claimers` claim batches as messages arrive and
    // start a send for each claimed occurrence (at most `concurrency` in flight); `recorders`
    // write finished sends in batches and answer their messages. A hanging send holds only itself.
    const sends = yield* FiberSet.make()
    const sendPermits = yield* Effect.makeSemaphore(settings.concurrency)
    const finished = yield* Effect.acquireRelease(Queue.unbounded<Decided>(), Queue.shutdown)
    const startSend = (work: Claimed) =>
      Effect.zipRight(
        sendPermits.take(1),
        FiberSet.run(
          sends,
          send(work).pipe(
            Effect.flatMap((done) => Queue.offer(finished, done)),
            // Unanswered, the message comes back after `ackWait` and the ledger decides again.
            Effect.catchAllCause((cause) =>
              Effect.logError("Delivery send failed", { key: work.occurrence.key, cause })
            ),
            Effect.ensuring(sendPermits.release(1))
          )
        )
      )
    const claimLoop = (take: (max: number) => Effect.Effect<ReadonlyArray<JsMsg>>) =>
      Effect.gen(function*() {
        const batch = yield* take(settings.batchSize)
        const work = yield* claimBatch(Chunk.unsafeFromArray(batch))
        for (const item of work) yield* startSend(item)
      }).pipe(Effect.forever)
    const recordLoop = Effect.gen(function*() {
      yield* recordBatch(yield* Queue.takeBetween(finished, 1, settings.batchSize))
    }).pipe(Effect.forever)
    yield* Effect.forkScoped(
      Effect.all(Array.from({ length: recorders }, () => recordLoop), { concurrency: "unbounded" })
    )
    yield* DurableConsumer.run(
      jetstream,
      names.deliveryStream,
      names.deliveryConsumer,
      settings.fetchBuffer,
      (take) => Effect.all(Array.from({ length: claimers }, () => claimLoop(take)), { concurrency: "unbounded" })
    ).pipe(Effect.forkScoped)

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
