import { Effect } from "effect"

/**
 * At most `limit` jobs in flight, as plain promises: the delivery path starts thousands of sends a
 * second, and a fiber and semaphore effect per send was most of its cost. A released permit is
 * handed straight to the oldest waiter, so the limit holds however many callers wait. The limit
 * may move (the adaptive concurrency limit sets it); lowering it takes effect as permits come
 * back. Once closed, it refuses every waiter and every later request (permits held stay held
 * until released).
 */
export class PermitPool {
  private held = 0
  private closed = false
  private readonly waiting: Array<(granted: boolean) => void> = []

  constructor(private limit: number) {}

  /** Permits held now. */
  get inUse(): number {
    return this.held
  }

  /** The limit in force. */
  get limitNow(): number {
    return this.limit
  }

  /** Permits that may be taken now without waiting. */
  get available(): number {
    return this.closed ? 0 : Math.max(0, this.limit - this.held)
  }

  /** Takes a permit: `true` when one was free, `false` once closed, else a promise of either. */
  acquire(): boolean | Promise<boolean> {
    if (this.closed) return false
    if (this.held < this.limit) {
      this.held++
      return true
    }
    return new Promise<boolean>((resolve) => this.waiting.push(resolve))
  }

  /**
   * Takes up to `max` permits: as many as are free now, or (when none is) one as soon as one is
   * released. 0 once closed.
   */
  acquireUpTo(max: number): number | Promise<number> {
    const granted = this.takeFree(max)
    if (granted > 0) return granted
    const one = this.acquire()
    return typeof one === "boolean" ? (one ? 1 : 0) : one.then((granted) => (granted ? 1 : 0))
  }

  /**
   * `acquireUpTo` as an effect that can be interrupted while it waits: the waiter leaves the
   * queue, and a permit granted to it in the instant before the interruption is given back.
   * (Interrupting a wait on `acquireUpTo`'s promise instead leaves its waiter queued: the next
   * permit released goes to nobody and is never returned.)
   */
  acquireUpToEffect(max: number): Effect.Effect<number> {
    return Effect.async<number>((resume) => {
      const granted = this.takeFree(max)
      if (granted > 0 || this.closed) return resume(Effect.succeed(granted))
      let got = false
      const waiter = (ok: boolean) => {
        got = ok
        resume(Effect.succeed(ok ? 1 : 0))
      }
      this.waiting.push(waiter)
      return Effect.sync(() => {
        const at = this.waiting.indexOf(waiter)
        if (at >= 0) this.waiting.splice(at, 1)
        else if (got) this.release()
      })
    })
  }

  /** Gives a permit back (to the oldest waiter, if the limit allows). */
  readonly release = (): void => {
    this.held--
    this.grant()
  }

  /** Gives `n` permits back. */
  releaseMany(n: number): void {
    this.held -= n
    this.grant()
  }

  /** Moves the limit (at least 1); waiters are served at once if it rose. */
  setLimit(limit: number): void {
    this.limit = Math.max(1, Math.floor(limit))
    this.grant()
  }

  /** Refuses the waiters and every later `acquire`. */
  close(): void {
    this.closed = true
    for (const refuse of this.waiting.splice(0)) refuse(false)
  }

  /** Takes up to `max` of the permits free now (none once closed); how many it took. */
  private takeFree(max: number): number {
    const granted = Math.min(this.available, max)
    this.held += granted
    return granted
  }

  private grant() {
    while (this.held < this.limit && this.waiting.length > 0) {
      this.held++
      this.waiting.shift()!(true)
    }
  }
}
