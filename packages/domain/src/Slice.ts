import { Config, Duration } from "effect"

/** Number of slices users are split into; must be equal in every process. */
export const SlicesConfig = Config.integer("SLICES").pipe(
  // Validated before the default is attached, which would otherwise lose the name from the error.
  Config.validate({ message: "must be a whole number from 1 to 65536", validation: (n) => n >= 1 && n <= 65536 }),
  Config.withDefault(256),
  Config.withDescription("Number of slices (cluster entities) users are spread over")
)

/** The slice of a user: FNV-1a of the id, so every process and language agrees. */
export const sliceOf = (userId: string, slices: number): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < userId.length; i++) {
    hash ^= userId.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % slices
}

/**
 * How far ahead a slice keeps occurrences in memory. The API reads it too: a change to an
 * occurrence due beyond it cannot be in any slice's memory, so the slice need not be told.
 */
export const SliceHorizonConfig = Config.duration("SLICE_HORIZON").pipe(
  Config.withDefault(Duration.hours(6)),
  Config.withDescription("How far ahead a slice keeps occurrences in memory (equal on runners and API servers)")
)
