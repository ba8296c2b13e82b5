/**
 * A tiny seedable PRNG (sfc32) for fault decisions.
 *
 * Effect's `Random` is seedable too, but every draw is an Effect; the request hot path draws three
 * numbers per request inside a plain node:http callback, so a synchronous generator keeps it cheap.
 */

/** A source of uniform numbers in [0, 1) that replays the same sequence for the same seed. */
export interface SeededRandom {
  readonly seed: number
  readonly next: () => number
}

/** Creates a generator; the same `seed` always yields the same sequence. */
export const make = (seed: number): SeededRandom => {
  // sfc32 state, seeded by splitmix32 so that nearby seeds (1, 2, 3) still diverge at once.
  let s = seed >>> 0
  const splitmix = () => {
    s = (s + 0x9e3779b9) | 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = 1
  const next = () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  // Discard the first outputs: sfc32 is weakly mixed right after seeding.
  for (let i = 0; i < 12; i++) next()
  return { seed: seed >>> 0, next }
}
