import type { DeliveryCommand, OccasionKindName } from "@birthday/domain"
import type { PendingRow } from "@birthday/ledger/OccurrenceLedger"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { Chunk, Clock, Context, Deferred, Effect, Layer, Option, Queue, type Tracer } from "effect"
import { DeliveryPublisher } from "./DeliveryPublisher.js"
import { RunnerSettings } from "./RunnerConfig.js"

/** An occurrence past its late window: recorded `expired`, not sent. */
export interface ExpiredTimer {
  readonly kind: OccasionKindName
  readonly key: string
  readonly userId: string
}

/** What one slice hands over when its timers fire. */
export interface DueRound {
  readonly send: ReadonlyArray<DeliveryCommand>
  readonly expire: ReadonlyArray<ExpiredTimer>
}

/** What became of a round. */
export interface DueResult {
  /** Keys whose guarded update ran (moved, or refused because the row changed meanwhile): done with. */
  readonly recorded: ReadonlySet<string>
  /** Rows that moved to `enqueued` or `expired`. */
  readonly settled: number
  /** Next year's occurrences of the round's users, stored in the same transactions. */
  readonly next: ReadonlyArray<PendingRow>
}

/** Rounds merged into one dispatch at most (a whole second of 256 slices fits in one). */
const maxRoundsPerDispatch = 512
/** Dispatches in flight: one publishing while another writes the ledger. */
const dispatchers = 2

interface Request {
  readonly round: DueRound
  readonly span: Option.Option<Tracer.AnySpan>
  readonly done: Deferred.Deferred<DueResult>
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * Fires the due timers of every slice of the process together: the rounds waiting at one instant
 * are merged into one pipelined publish and a few batched ledger transactions (`pending →
 * enqueued`/`expired` plus next year's occurrences), instead of a publish and a transaction per
 * slice. At a whole second 256 slices each hold a handful of due timers; per-slice round trips
 * were most of the lateness.
 */
export class DueDispatcher extends Context.Tag("@birthday/runner/DueDispatcher")<DueDispatcher, {
  /** Publishes and records one slice's round; never fails (what is not in `recorded` is retried by the slice). */
  readonly dispatch: (round: DueRound) => Effect.Effect<DueResult>
}>() {
  static readonly layer = Layer.scoped(
    DueDispatcher,
    Effect.gen(function*() {
      const publisher = yield* DeliveryPublisher
      const ledger = yield* OccurrenceLedger
      const settings = yield* RunnerSettings
      const queue = yield* Effect.acquireRelease(Queue.unbounded<Request>(), Queue.shutdown)

      const serveBatch = (requests: ReadonlyArray<Request>) =>
        Effect.gen(function*() {
          const acked = yield* publisher.publish(
            requests.map(({ round, span }) => ({ commands: round.send, parent: Option.getOrUndefined(span) }))
          )
          const now = yield* Clock.currentTimeMillis
          const recorded = new Set<string>()
          const moved = new Set<string>()
          const next: Array<PendingRow> = []
          // Keys the guards refuse were changed or deleted meanwhile: their reload has them.
          const settle = (keys: ReadonlyArray<string>, kind?: OccasionKindName) =>
            Effect.forEach(chunks(keys, settings.updateBatchSize), (batch) =>
              ledger.settle(batch, now, kind).pipe(
                Effect.tap((result) =>
                  Effect.sync(() => {
                    for (const key of batch) recorded.add(key)
                    for (const row of result.settled) moved.add(row.key)
                    next.push(...result.next)
                  })
                ),
                Effect.tapErrorCause((cause) => Effect.logWarning("Recording fired timers failed", { cause })),
                Effect.ignore
              ), { discard: true })
          yield* settle(acked)
          const expired = new Map<OccasionKindName, Array<string>>()
          for (const { round } of requests) {
            for (const timer of round.expire) {
              const keys = expired.get(timer.kind) ?? []
              keys.push(timer.key)
              expired.set(timer.kind, keys)
            }
          }
          for (const [kind, keys] of expired) yield* settle(keys, kind)
          // Each round gets back its own keys and its own users' next occurrences.
          const roundOfUser = new Map<string, number>()
          requests.forEach(({ round }, index) => {
            for (const command of round.send) roundOfUser.set(command.userId, index)
            for (const timer of round.expire) roundOfUser.set(timer.userId, index)
          })
          const nextOf = requests.map((): Array<PendingRow> => [])
          for (const row of next) {
            const index = roundOfUser.get(row.user_id)
            if (index !== undefined) nextOf[index]!.push(row)
          }
          yield* Effect.forEach(requests, ({ done, round }, index) => {
            const keys = [...round.send.map((command) => command.key), ...round.expire.map((timer) => timer.key)]
            return Deferred.succeed(done, {
              recorded: new Set(keys.filter((key) => recorded.has(key))),
              settled: keys.filter((key) => moved.has(key)).length,
              next: nextOf[index]!
            })
          }, { discard: true })
        }).pipe(
          Effect.withSpan("DueDispatcher.dispatch", {
            attributes: {
              rounds: requests.length,
              commands: requests.reduce((n, { round }) => n + round.send.length, 0)
            },
            // The slices' timer spans parent their commands' publish spans (one trace per greeting);
            // the dispatch that merged them links to each.
            links: requests.flatMap(({ span }) =>
              Option.isSome(span) ? [{ _tag: "SpanLink" as const, span: span.value, attributes: {} }] : []
            )
          })
        )

      const serve = Effect.gen(function*() {
        const requests = Chunk.toReadonlyArray(yield* Queue.takeBetween(queue, 1, maxRoundsPerDispatch))
        yield* serveBatch(requests).pipe(
          // A defect must not strand the slices waiting on this batch: they retry what is unrecorded.
          Effect.catchAllCause((cause) =>
            Effect.zipRight(
              Effect.logError("Dispatching fired timers failed", { cause }),
              Effect.forEach(
                requests,
                ({ done }) => Deferred.succeed(done, { recorded: new Set<string>(), settled: 0, next: [] }),
                { discard: true }
              )
            )
          )
        )
      }).pipe(Effect.forever)
      yield* Effect.forkScoped(
        Effect.all(Array.from({ length: dispatchers }, () => serve), { concurrency: "unbounded" })
      )

      return {
        dispatch: (round) =>
          Effect.gen(function*() {
            if (round.send.length === 0 && round.expire.length === 0) {
              return { recorded: new Set<string>(), settled: 0, next: [] }
            }
            const done = yield* Deferred.make<DueResult>()
            const span = yield* Effect.option(Effect.currentSpan)
            yield* Queue.offer(queue, { round, span, done })
            return yield* Deferred.await(done)
          })
      }
    })
  )
}
