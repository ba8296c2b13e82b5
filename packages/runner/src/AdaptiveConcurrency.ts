/**
 * The provider's concurrency limit, learnt from its latency (a gradient limit, as in Netflix's
 * concurrency-limits `Gradient2Limit` and Envoy's adaptive concurrency filter): a provider that
 * slows down under our load gets fewer requests in flight, instead of requests that time out and
 * come back ambiguous.
 *
 * Samples are taken in windows of at least `minWindow` requests (and half the limit). At the end
 * of each window:
 * - the window's latency is its median: a provider that hangs a random tenth of requests is not
 *   loaded, and must not be starved for it (a mean, or treating every timeout as a drop, was);
 * - `baseline` (the no-load latency) follows the window's fastest request down at once; it is
 *   re-learnt (set to the window's fastest) only after `relearnAfter` windows in a row at the
 *   lowest limit still read as loaded: a provider that became slower for everyone. Letting it
 *   drift up under load instead (as Gradient2's long average does) slowly accepts the very
 *   queueing the limit is there to prevent;
 * - `gradient` = (tolerance × baseline + slack) / median, clamped to [0.5, 1]: 1 while the median
 *   stays within tolerance of the baseline, less as queueing at the provider grows;
 * - the new limit is `limit × gradient`, plus `√limit` of headroom to probe for more when the
 *   window actually used at least half the limit (an idle runner does not grow its limit);
 *   smoothed half-way.
 * A window mostly of drops (no answer in time, no connection) or with a median above `ceilingMs`
 * (a share of the request timeout) cuts the limit by a quarter. Pure: the caller feeds it
 * samples and reads `limit`.
 */
export interface AdaptiveConcurrencyOptions {
  readonly initial: number
  readonly min: number
  readonly max: number
  /** A median latency up to `tolerance × baseline + slackMs` counts as unloaded. */
  readonly tolerance: number
  /** Absolute slack, so that a fast provider's jitter (and our own event loop) is not read as load. */
  readonly slackMs: number
  /** A window median above this is an overload however the baseline moved. */
  readonly ceilingMs: number
  readonly minWindow: number
  /** Windows in a row at the lowest limit, still loaded, before the baseline is re-learnt. */
  readonly relearnAfter: number
}

/** The defaults for a request timeout of `timeoutMs` and between `min` and `max` requests in flight. */
export const adaptiveDefaults = (timeoutMs: number, min: number, max: number): AdaptiveConcurrencyOptions => ({
  initial: Math.min(max, Math.max(min, 32)),
  min: Math.min(min, max),
  max,
  tolerance: 2,
  slackMs: 50,
  // Half the timeout: a provider steady at a second or two (well within a 5 s timeout) is slow, not
  // overloaded, and is re-learnt as its new baseline; a quarter pinned such a provider at `min`.
  ceilingMs: timeoutMs / 2,
  minWindow: 10,
  relearnAfter: 5
})

export class AdaptiveConcurrency {
  private current: number
  private baselineMs = Infinity
  private samples: Array<number> = []
  private drops = 0
  private peak = 0
  private loadedAtFloor = 0

  constructor(private readonly options: AdaptiveConcurrencyOptions) {
    this.current = options.initial
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.floor(this.current)
  }

  /** The no-load latency learnt so far, in ms (`Infinity` before the first window). */
  get baseline(): number {
    return this.baselineMs
  }

  /**
   * One finished request: its latency, whether it was a drop, and the requests in flight when it
   * started. Returns whether `limit` changed.
   */
  observe(latencyMs: number, drop: boolean, inFlight: number): boolean {
    const before = this.limit
    this.peak = Math.max(this.peak, inFlight)
    if (drop) this.drops++
    else this.samples.push(latencyMs)
    if (this.samples.length + this.drops >= Math.max(this.options.minWindow, this.current / 2)) this.closeWindow()
    return this.limit !== before
  }

  private closeWindow() {
    const { ceilingMs, max, min, slackMs, tolerance } = this.options
    const cut = () => Math.max(min, this.current * 0.75)
    if (this.drops * 2 > this.samples.length + this.drops) {
      this.current = cut()
    } else if (this.samples.length > 0) {
      const sorted = this.samples.sort((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)]!
      this.baselineMs = Math.min(this.baselineMs, sorted[0]!)
      const loaded = median > tolerance * this.baselineMs + slackMs
      this.loadedAtFloor = loaded && this.current <= min * 1.5 ? this.loadedAtFloor + 1 : 0
      if (this.loadedAtFloor >= this.options.relearnAfter) {
        this.baselineMs = sorted[0]!
        this.loadedAtFloor = 0
      }
      if (median > ceilingMs) {
        this.current = cut()
      } else {
        const gradient = Math.max(0.5, Math.min(1, (tolerance * this.baselineMs + slackMs) / median))
        const busy = this.peak >= this.current / 2
        const proposed = this.current * gradient + (busy ? Math.sqrt(this.current) : 0)
        this.current = Math.max(min, Math.min(max, this.current * 0.5 + proposed * 0.5))
      }
    }
    this.samples = []
    this.drops = 0
    this.peak = 0
  }
}
