import { SliceEntity, sliceEntityId } from "@birthday/domain"
import { occurrenceChangesChannel } from "@birthday/ledger/OccurrenceLedger"
import { PgClient } from "@effect/sql-pg"
import { Chunk, Effect, Layer, Schedule, Stream } from "effect"
import { LocalSlices } from "./LocalSlices.js"

/**
 * Listens for the server's change notices (`"{slice}:{userId}"`, sent on commit) and tells each
 * slice running in this process to reload those users. Every runner hears every notice; only the
 * owner forwards it. Notices are batched over a few milliseconds.
 */
export const OccurrenceChangesLive = Layer.scopedDiscard(Effect.gen(function*() {
  const pg = yield* PgClient.PgClient
  const local = yield* LocalSlices
  const client = yield* SliceEntity.client
  yield* pg.listen(occurrenceChangesChannel).pipe(
    Stream.groupedWithin(1000, "10 millis"),
    Stream.mapEffect((notices) => {
      const bySlice = new Map<number, Set<string>>()
      for (const notice of Chunk.toReadonlyArray(notices)) {
        const colon = notice.indexOf(":")
        const slice = Number(notice.slice(0, colon))
        if (!local.has(slice)) continue
        const users = bySlice.get(slice) ?? new Set<string>()
        users.add(notice.slice(colon + 1))
        bySlice.set(slice, users)
      }
      return Effect.forEach(
        bySlice,
        ([slice, users]) =>
          client(sliceEntityId(slice)).Reload({ userIds: [...users] }).pipe(
            Effect.tapErrorCause((cause) => Effect.logWarning("Reload notice not delivered", { slice, cause })),
            Effect.ignore
          ),
        { concurrency: 16, discard: true }
      )
    }),
    Stream.runDrain,
    Effect.tapErrorCause((cause) => Effect.logWarning("Change listener stopped; reconnecting", { cause })),
    Effect.retry(Schedule.spaced("1 second")),
    Effect.forkScoped
  )
}))
