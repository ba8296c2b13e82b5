import {
  catchUpDecision,
  DeliveryCommand,
  deliveryCommandOfRow,
  type OccasionKindName,
  OccasionSettings,
  occurrenceKey,
  SliceEntity,
  SliceStatus,
  tzdataVersion
} from "@birthday/domain"
import { DeliveryLedger, type SweptRow } from "@birthday/ledger/DeliveryLedger"
import type { PendingRow } from "@birthday/ledger/OccurrenceLedger"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { Entity } from "@effect/cluster"
import { Clock, DateTime, Duration, Effect, Queue, Schedule } from "effect"
import { DeliveryPublisher } from "./DeliveryPublisher.js"
import { DueDispatcher, type ExpiredTimer } from "./DueDispatcher.js"
import { LocalSlices } from "./LocalSlices.js"
import { RunnerSettings } from "./RunnerConfig.js"
import { SliceLease } from "./SliceLease.js"
import { SliceOwnership } from "./SliceOwnership.js"
import { type TimerEntry, TimerHeap } from "./TimerHeap.js"

/**
 * The behaviour of a slice: its pending occurrences due within the horizon live in one timer heap
 * served by one sleeping fiber. Postgres stays the truth; the heap is rebuilt whenever the slice
 * starts (catch-up included: past-due occurrences fire oldest first or expire by the late window).
 */
export const SliceLive = SliceEntity.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const runnerAddress = yield* Entity.CurrentRunnerAddress
    const slice = Number(address.entityId)
    const runner = `${runnerAddress.host}:${runnerAddress.port}`
    const config = yield* RunnerSettings
    const kinds = yield* OccasionSettings
    const ledger = yield* OccurrenceLedger
    const dispatcher = yield* DueDispatcher
    const ownership = yield* SliceOwnership
    const local = yield* LocalSlices
    const lease = yield* SliceLease
    const deliveryLedger = yield* DeliveryLedger
    const publisher = yield* DeliveryPublisher
    const horizon = Duration.toMillis(config.horizon)
    const fireAhead = Duration.toMillis(config.fireAhead)
    const kindIndex = new Map(kinds.all.map((kind, index) => [kind.name, index] as const))

    let heap = new TimerHeap()
    // The epoch this runner claimed the slice at: every round is fenced by it (docs/ledger.md).
    let epoch = 0
    // Firing, reloads, top-ups and resyncs change which rows the heap holds: one at a time.
    const heapLock = yield* Effect.makeSemaphore(1)
    // Everything pending up to here has been loaded (or is being loaded) into the heap.
    let loadedUntil = 0
    const wake = yield* Queue.sliding<void>(1)

    const pushRow = (row: PendingRow, into: TimerHeap = heap) =>
      into.push(row.due_ms, row.user_id, kindIndex.get(row.kind)!, row.year)

    /** Loads pending rows due in `(from, until]` in bounded batches, in due order. */
    const loadRange = (from: number | undefined, until: number, into: TimerHeap = heap) =>
      Effect.gen(function*() {
        let after: { dueMs: number; key: string } | undefined = undefined
        let loaded = 0
        for (;;) {
          const rows: ReadonlyArray<PendingRow> = yield* ledger.pendingInSlice({
            slice,
            from,
            until,
            after,
            limit: config.loadBatchSize
          })
          for (const row of rows) pushRow(row, into)
          loaded += rows.length
          if (rows.length < config.loadBatchSize) return loaded
          const last = rows[rows.length - 1]!
          after = { dueMs: last.due_ms, key: last.key }
        }
      })

    /** Occurrences computed under another tzdata release are recomputed before anything loads. */
    const recomputeStaleTzdata = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const { left, users } = yield* ledger.recomputeStaleTzdata(slice, tzdataVersion, now, config.updateBatchSize)
      if (left > 0) yield* Effect.logWarning("Pending occurrences left under another tzdata release", { slice, left })
      return users
    })

    // Built from the heap's own fields, so the schema's check is skipped (a burst makes 100,000 at once).
    const commandOf = (entry: TimerEntry, kind: OccasionKindName) =>
      DeliveryCommand.make({
        key: occurrenceKey(kind, entry.userId, entry.year),
        kind,
        userId: entry.userId,
        year: entry.year,
        dueAt: DateTime.unsafeMake(entry.dueAt),
        deadlineAt: DateTime.unsafeMake(entry.dueAt + Duration.toMillis(kinds.byName[kind].lateWindow))
      }, true)

    /**
     * Hands one round of due timers to the process's dispatcher (one pipelined publish and batched
     * guarded updates shared with the other slices firing at the same instant): acknowledged ones
     * become `enqueued`, ones past their late window `expired`. Anything not recorded goes back on
     * the heap for the next round; returns how many.
     */
    const fire = (entries: ReadonlyArray<TimerEntry>, now: number) =>
      Effect.gen(function*() {
        const send: Array<DeliveryCommand> = []
        const expire: Array<ExpiredTimer> = []
        const byKey = new Map<string, TimerEntry>()
        for (const entry of entries) {
          const kind = kinds.all[entry.kind]!
          const command = commandOf(entry, kind.name)
          if (byKey.has(command.key)) continue
          byKey.set(command.key, entry)
          if (catchUpDecision(kind, entry.dueAt, now) === "expire") {
            expire.push({ kind: kind.name, key: command.key, userId: entry.userId })
          } else send.push(command)
        }
        const result = yield* dispatcher.dispatch({ send, expire, epoch })
        // Next year's occurrences already inside the horizon join the heap.
        for (const row of result.next) if (row.due_ms <= loadedUntil) pushRow(row)
        let restored = 0
        for (const [key, entry] of byKey) {
          if (result.recorded.has(key)) continue
          heap.push(entry.dueAt, entry.userId, entry.kind, entry.year)
          restored++
        }
        return restored
      }).pipe(Effect.withSpan("Slice.fire", { attributes: { slice, timers: entries.length }, root: true }))

    /** The one sleeping fiber: fires what is due, else sleeps until the earliest timer or a wake-up. */
    const timerLoop = Effect.gen(function*() {
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        const next = heap.peekDue()
        // Fired `fireAhead` early: the worker that receives a command before it is due sends it when
        // due, and a slice that moves to another runner meanwhile leaves no gap in what is queued.
        if (next <= now + fireAhead) {
          // Self-fencing: no round unless this runner can show it still holds the slice.
          if (!(yield* lease.holds(address.shardId))) {
            yield* Effect.sleep(config.retryDelay)
            continue
          }
          // Popped and fired under the heap lock: a resync must not load timers that are being fired.
          const restored = yield* heapLock.withPermits(1)(Effect.suspend(() => {
            const due: Array<TimerEntry> = []
            while (due.length < config.fireBatchSize && heap.peekDue() <= now + fireAhead) due.push(heap.pop())
            return due.length === 0 ? Effect.succeed(0) : fire(due, now)
          }))
          if (restored > 0) yield* Effect.sleep(config.retryDelay)
          continue
        }
        // Nothing resident: sleep until a reload or top-up adds something.
        if (next === Infinity) yield* Queue.take(wake)
        else yield* Effect.raceFirst(Effect.sleep(Duration.millis(next - fireAhead - now)), Queue.take(wake))
      }
    })

    /** Extends the horizon periodically and reports how many timers are resident. */
    const topUpLoop = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const from = loadedUntil
      loadedUntil = now + horizon
      yield* loadRange(from, loadedUntil)
      yield* Queue.offer(wake, undefined)
      yield* ownership.report(slice, epoch, heap.size, now)
    }).pipe(
      heapLock.withPermits(1),
      maintenanceRound,
      Effect.tapErrorCause((cause) => Effect.logWarning("Slice top-up failed", { slice, cause })),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(config.topUpInterval)),
      Effect.delay(config.topUpInterval)
    )

    /**
     * Rebuilds the heap from Postgres now and then. A change notice can be lost (the listener's
     * connection drops, a Reload message fails); without this, an edit that moved an occurrence
     * earlier, inside the loaded horizon, would wait for the slice's next start. It holds the heap
     * lock, as firing does, so a timer being fired is never loaded a second time.
     */
    const resyncLoop = Effect.gen(function*() {
      const fresh = new TimerHeap()
      yield* loadRange(undefined, loadedUntil, fresh)
      heap = fresh
      yield* Queue.offer(wake, undefined)
    }).pipe(
      heapLock.withPermits(1),
      Effect.withSpan("Slice.resync", { attributes: { slice } }),
      maintenanceRound,
      Effect.tapErrorCause((cause) => Effect.logWarning("Slice resync failed", { slice, cause })),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(config.resyncInterval)),
      Effect.delay(config.resyncInterval)
    )

    // The slice is claimed (a new epoch) before anything is read: from here on a previous holder
    // that still fires is fenced off, and this one's rounds are the only ones that move rows.
    const start = Effect.gen(function*() {
      epoch = yield* ownership.claim(slice, runner, 0, yield* Clock.currentTimeMillis)
      const recomputed = yield* recomputeStaleTzdata
      const now = yield* Clock.currentTimeMillis
      loadedUntil = now + horizon
      heap = new TimerHeap()
      const loaded = yield* loadRange(undefined, loadedUntil)
      yield* ownership.report(slice, epoch, heap.size, now)
      return { loaded, recomputed }
    })

    /**
     * A previous holder may have recorded a round (`enqueued`) and died before publishing it. The
     * slice's `enqueued` rows from inside the broker's dedupe window are published again under
     * their original message id (the key): the broker drops the ones already published, and the
     * rest reach a worker now instead of when the sweeper finds them. Older rows are the sweeper's.
     */
    const reannounce = Effect.gen(function*() {
      const windowMs = Duration.toMillis(publisher.dedupeWindow)
      if (windowMs <= 0) return
      const now = yield* Clock.currentTimeMillis
      const since = new Date(now - Math.max(0, windowMs - Math.min(windowMs / 2, 60_000)))
      let after: string | undefined = undefined
      let published = 0
      for (;;) {
        const rows: ReadonlyArray<SweptRow> = yield* deliveryLedger.enqueuedInSlice(
          slice,
          since,
          after,
          config.loadBatchSize
        )
        if (rows.length === 0) break
        const commands = rows.map(deliveryCommandOfRow)
        published += (yield* publisher.publish([{ commands, parent: undefined }])).length
        if (rows.length < config.loadBatchSize) break
        after = rows[rows.length - 1]!.key
      }
      if (published > 0) yield* Effect.logDebug("Slice re-announced its enqueued commands", { slice, published })
    }).pipe(
      Effect.withSpan("Slice.reannounce", { attributes: { slice } }),
      Effect.tapErrorCause((cause) =>
        Effect.logWarning("Slice re-announce failed; the sweeper covers it", { slice, cause })
      ),
      Effect.ignore
    )

    local.add(slice)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        local.delete(slice)
        yield* ownership.release(slice, epoch, yield* Clock.currentTimeMillis)
      }).pipe(Effect.ignore)
    )
    const started = yield* start.pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning("Slice start failed; retrying", { slice, cause })),
      Effect.retry(Schedule.spaced(config.retryDelay).pipe(Schedule.compose(Schedule.recurs(30)))),
      Effect.orDie
    )
    yield* Effect.logDebug("Slice started", { slice, runner, ...started, resident: heap.size })
    // Traced whatever started the slice (a keeper ping runs untraced): each round is its own trace.
    yield* Effect.forkScoped(Effect.withTracerEnabled(timerLoop, true))
    yield* Effect.forkScoped(reannounce)
    yield* Effect.forkScoped(topUpLoop)
    yield* Effect.forkScoped(resyncLoop)

    return {
      Ping: () => Effect.succeed(SliceStatus.make({ slice, runner, resident: heap.size, loadedUntil })),
      Reload: ({ payload }) =>
        Effect.gen(function*() {
          const users = new Set(payload.userIds)
          heap.removeUsers(users)
          const rows = yield* ledger.pendingForUsers([...users], loadedUntil)
          for (const row of rows) pushRow(row)
          yield* Queue.offer(wake, undefined)
        }).pipe(
          heapLock.withPermits(1),
          Effect.tapErrorCause((cause) => Effect.logWarning("Slice reload failed", { slice, cause })),
          Effect.orDie,
          Effect.withSpan("Slice.reload", { attributes: { slice, users: payload.userIds.length } })
        )
    }
  }),
  { maxIdleTime: Duration.infinity }
)
