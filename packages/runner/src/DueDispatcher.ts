import { DeliveryCommand, type OccasionKindName } from "@birthday/domain"
import type { PendingRow, RoundItem, SettledRow } from "@birthday/ledger/OccurrenceLedger"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { Chunk, Clock, Context, DateTime, Deferred, Duration, Effect, Layer, Option, Queue, type Tracer } from "effect"
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
  /** The epoch the slice's runner holds it at: the fence of every transition of this round. */
  readonly epoch: number
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
/**
 * Publish attempts (a `retryDelay` apart) of a round's recorded commands before they are left to
 * the ledger's sweeper, which republishes `enqueued` rows unclaimed for two ack waits.
 */
const publishAttempts = 30

/** The command of a row the round moved to `enqueued`, at the version the move gave it. */
const commandOfRow = (row: SettledRow) =>
  DeliveryCommand.make({
    key: row.key,
    kind: row.kind,
    userId: row.user_id,
    year: row.year,
    dueAt: DateTime.unsafeMake(row.due_ms),
    deadlineAt: DateTime.unsafeMake(row.deadline_ms),
    version: row.version
  }, true)

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
      const aheadMs = Duration.toMillis(settings.fireAhead)

      // Record, then publish: the round's guarded transitions (and next year's occurrences) commit
      // first, and only the rows that moved to `enqueued` are published, at their new version.
      const serveBatch = (requests: ReadonlyArray<Request>) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const recorded = new Set<string>()
          const moved = new Map<string, SettledRow>()
          const next: Array<PendingRow> = []
          // Keys the guards refuse were changed, deleted or fenced off meanwhile: their reload has them.
          const settle = (items: ReadonlyArray<RoundItem>, kind?: OccasionKindName) =>
            Effect.forEach(chunks(items, settings.updateBatchSize), (batch) =>
              ledger.settle(batch, now, kind === undefined ? { aheadMs } : { expiredKind: kind }).pipe(
                Effect.tap((result) =>
                  Effect.sync(() => {
                    for (const item of batch) {
                      recorded.add(item.key)
                    }
                    for (const row of result.settled) {
                      moved.set(row.key, row)
                    }
                    next.push(...result.next)
                  })
                ),
                Effect.tapErrorCause((cause) =>
                  Effect.logWarning("Recording fired timers failed", { cause })
                ),
                Effect.ignore
              ), { discard: true })
          yield* settle(
            requests.flatMap(({ round }) =>
              round.send.map((command) => ({ key: command.key, epoch: round.epoch }))
            )
          )
          const expired = new Map<OccasionKindName, Array<RoundItem>>()
          for (const { round } of requests) {
            for (const timer of round.expire) {
              const items = expired.get(timer.kind) ?? []
              items.push({ key: timer.key, epoch: round.epoch })
              expired.set(timer.kind, items)
            }
          }
          for (const [kind, items] of expired) yield* settle(items, kind)

          let unpublished = requests.map(({ round, span }) => ({
            commands: round.send.flatMap((command) => {
              const row = moved.get(command.key)
              return row === undefined ? [] : [commandOfRow(row)]
            }),
            parent: Option.getOrUndefined(span)
          })).filter((group) => group.commands.length > 0)
          for (let attempt = 1; attempt <= publishAttempts && unpublished.length > 0; attempt++) {
            if (attempt > 1) yield* Effect.sleep(settings.retryDelay)
            const acked = new Set(yield* publisher.publish(unpublished))
            unpublished = unpublished
              .map((group) => ({ ...group, commands: group.commands.filter((command) => !acked.has(command.key)) }))
              .filter((group) => group.commands.length > 0)
          }
          if (unpublished.length > 0) {
            // Recorded `enqueued`: the ledger's sweeper republishes them.
            yield* Effect.logWarning("Delivery commands left for the sweeper", {
              commands: unpublished.reduce((n, group) => n + group.commands.length, 0)
            })
          }

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
