import { Entity } from "@effect/cluster"
import { Rpc } from "@effect/rpc"
import { Schema } from "effect"

/** What a slice reports when pinged: where it runs and how much it holds in memory. */
export class SliceStatus extends Schema.Class<SliceStatus>("SliceStatus")({
  slice: Schema.Int,
  runner: Schema.String,
  /** Pending occurrences held in the slice's timer heap. */
  resident: Schema.Int,
  /** Epoch ms up to which the slice has loaded its pending occurrences. */
  loadedUntil: Schema.Number
}) {}

/**
 * One slice of users as a cluster entity (entity id = slice number). It holds the timers of its
 * users' occurrences; `Ping` keeps it resident, `Reload` makes it re-read some users after a change.
 */
export const SliceEntity = Entity.make("Slice", [
  Rpc.make("Ping", { success: SliceStatus }),
  Rpc.make("Reload", { payload: { userIds: Schema.Array(Schema.String) } })
])

/** The entity id of a slice. */
export const sliceEntityId = (slice: number): string => String(slice)
