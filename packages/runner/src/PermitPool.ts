/**
 * At most `limit` jobs in flight, as plain promises: the delivery path starts thousands of sends a
 * second, and a fiber and semaphore effect per send was most of its cost. A released permit is
 * handed straight to the oldest waiter, so the limit holds however many callers wait.
 */
export class PermitPool {
  private free: number
  private readonly waiting: Array<() => void> = []

  constructor(limit: number) {
    this.free = limit
  }

  /** Takes a permit: `undefined` when one was free, else a promise that resolves holding one. */
  acquire(): Promise<void> | undefined {
    if (this.free > 0) {
      this.free--
      return undefined
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve))
  }

  /** Gives a permit back (to the oldest waiter, if any). */
  readonly release = (): void => {
    const next = this.waiting.shift()
    if (next === undefined) this.free++
    else next()
  }
}
