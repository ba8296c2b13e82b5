/**
 * At most `limit` jobs in flight, as plain promises: the delivery path starts thousands of sends a
 * second, and a fiber and semaphore effect per send was most of its cost. A released permit is
 * handed straight to the oldest waiter, so the limit holds however many callers wait. Once closed,
 * it refuses every waiter and every later request (permits held stay held until released).
 */
export class PermitPool {
  private free: number
  private closed = false
  private readonly waiting: Array<(granted: boolean) => void> = []

  constructor(private readonly limit: number) {
    this.free = limit
  }

  /** Permits held now. */
  get inUse(): number {
    return this.limit - this.free
  }

  /** Takes a permit: `true` when one was free, `false` once closed, else a promise of either. */
  acquire(): boolean | Promise<boolean> {
    if (this.closed) return false
    if (this.free > 0) {
      this.free--
      return true
    }
    return new Promise<boolean>((resolve) => this.waiting.push(resolve))
  }

  /** Gives a permit back (to the oldest waiter, if any). */
  readonly release = (): void => {
    const next = this.waiting.shift()
    if (next === undefined) this.free++
    else next(true)
  }

  /** Refuses the waiters and every later `acquire`. */
  close(): void {
    this.closed = true
    for (const refuse of this.waiting.splice(0)) refuse(false)
  }
}
