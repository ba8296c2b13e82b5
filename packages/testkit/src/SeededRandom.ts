/**
 * A seeded PRNG for reproducible scenarios: the seed is printed at creation; set `TESTKIT_SEED`
 * to replay a run. Plus helpers to pick random instants around a due time and to run actions at
 * them.
 */
import { Effect, Fiber } from "effect"
import { sleepUntil } from "./Workspace.js"

/** A deterministic source of numbers in [0, 1) and what is built on it. */
export interface SeededRandom {
  readonly seed: number
  readonly next: () => number
  /** Integer in [min, max]. */
  readonly int: (min: number, max: number) => number
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  readonly shuffle: <A>(items: ReadonlyArray<A>) => Array<A>
  /** An instant uniformly in [center - before, center + after] (epoch ms). */
  readonly instantAround: (center: number, before: number, after: number) => number
}

/** A PRNG (mulberry32) from `seed`, else `TESTKIT_SEED`, else a random seed; prints the seed with `label`. */
export const seededRandom = (label: string, seed?: number): SeededRandom => {
  const chosen = seed ??
    (process.env.TESTKIT_SEED ? Number(process.env.TESTKIT_SEED) : Math.floor(Math.random() * 2 ** 31))
  console.log(`testkit ${label}: seed ${chosen} (replay with TESTKIT_SEED=${chosen})`)
  let state = chosen >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return {
    seed: chosen,
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(0, items.length - 1)]!,
    shuffle: (items) => {
      const out = [...items]
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i)
        ;[out[i], out[j]] = [out[j]!, out[i]!]
      }
      return out
    },
    instantAround: (center, before, after) => center - before + Math.floor(next() * (before + after + 1))
  }
}

/** An action to run at an instant (epoch ms). */
export interface TimedAction<E = never, R = never> {
  readonly at: number
  readonly label: string
  readonly run: Effect.Effect<unknown, E, R>
}

/** What happened to one timed action. */
export interface ActionRecord {
  readonly label: string
  readonly plannedAt: number
  readonly startedAt: number
  readonly failed: string | null
}

/**
 * Runs each action at its instant, concurrently (a slow one does not delay the next); returns the
 * records in plan order once all ran. A failing action is recorded, not fatal, so a fault that
 * breaks an API call still lets the scenario reach its checks.
 */
export const runTimedActions = <E, R>(actions: ReadonlyArray<TimedAction<E, R>>) =>
  Effect.gen(function*() {
    const fibers = yield* Effect.forEach(
      actions,
      (action) =>
        Effect.fork(Effect.gen(function*() {
          yield* sleepUntil(action.at)
          const startedAt = Date.now()
          const exit = yield* Effect.exit(action.run)
          const record: ActionRecord = {
            label: action.label,
            plannedAt: action.at,
            startedAt,
            failed: exit._tag === "Success" ? null : String(exit.cause)
          }
          return record
        }))
    )
    return yield* Fiber.joinAll(fibers)
  })
