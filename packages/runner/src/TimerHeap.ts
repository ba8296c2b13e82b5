/** One timer as it leaves the heap. */
export interface TimerEntry {
  readonly dueAt: number
  readonly userId: string
  readonly kind: number
  readonly year: number
}

const hex = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"))

/**
 * A min-heap of occurrence timers ordered by `dueAt`, stored as parallel typed arrays (struct of
 * arrays): 8 bytes due + 16 bytes user UUID + 1 byte kind + 2 bytes year = 27 bytes per entry,
 * instead of a JS object and a key string per entry (~200 bytes). Keys are rebuilt on pop.
 */
export class TimerHeap {
  private due: Float64Array
  private ids: Uint8Array
  private kinds: Uint8Array
  private years: Uint16Array
  private count = 0
  private readonly scratch = new Uint8Array(16)

  constructor(initialCapacity = 64) {
    this.due = new Float64Array(initialCapacity)
    this.ids = new Uint8Array(initialCapacity * 16)
    this.kinds = new Uint8Array(initialCapacity)
    this.years = new Uint16Array(initialCapacity)
  }

  /** Entries held. */
  get size(): number {
    return this.count
  }

  /** The earliest `dueAt`, or `Infinity` when empty. */
  peekDue(): number {
    return this.count === 0 ? Infinity : this.due[0]!
  }

  push(dueAt: number, userId: string, kind: number, year: number): void {
    if (this.count === this.due.length) this.grow()
    const at = this.count++
    this.write(at, dueAt, kind, year)
    const base = at * 16
    for (let i = 0, j = 0; i < 16; i++, j += 2) {
      if (userId.charCodeAt(j) === 45) j++ // skip "-"
      this.ids[base + i] = parseInt(userId.slice(j, j + 2), 16)
    }
    this.siftUp(at)
  }

  /** Removes and returns the earliest entry; call only when `size > 0`. */
  pop(): TimerEntry {
    const entry = this.read(0)
    this.count--
    if (this.count > 0) {
      this.move(this.count, 0)
      this.siftDown(0)
    }
    return entry
  }

  /** Drops every entry of the given users; returns how many were dropped. */
  removeUsers(userIds: ReadonlySet<string>): number {
    let kept = 0
    for (let at = 0; at < this.count; at++) {
      if (userIds.has(this.userIdAt(at))) continue
      if (kept !== at) this.move(at, kept)
      kept++
    }
    const removed = this.count - kept
    this.count = kept
    if (removed > 0) { for (let at = (kept >> 1) - 1; at >= 0; at--) this.siftDown(at) }
    return removed
  }

  /** Bytes held by the backing arrays. */
  get bytes(): number {
    return this.due.byteLength + this.ids.byteLength + this.kinds.byteLength + this.years.byteLength
  }

  private userIdAt(at: number): string {
    const b = this.ids
    const o = at * 16
    return hex[b[o]!]! + hex[b[o + 1]!]! + hex[b[o + 2]!]! + hex[b[o + 3]!]! + "-" + hex[b[o + 4]!]! +
      hex[b[o + 5]!]! + "-" + hex[b[o + 6]!]! + hex[b[o + 7]!]! + "-" + hex[b[o + 8]!]! + hex[b[o + 9]!]! + "-" +
      hex[b[o + 10]!]! + hex[b[o + 11]!]! + hex[b[o + 12]!]! + hex[b[o + 13]!]! + hex[b[o + 14]!]! +
      hex[b[o + 15]!]!
  }

  private read(at: number): TimerEntry {
    return { dueAt: this.due[at]!, userId: this.userIdAt(at), kind: this.kinds[at]!, year: this.years[at]! }
  }

  private write(at: number, dueAt: number, kind: number, year: number): void {
    this.due[at] = dueAt
    this.kinds[at] = kind
    this.years[at] = year
  }

  private move(from: number, to: number): void {
    this.write(to, this.due[from]!, this.kinds[from]!, this.years[from]!)
    this.ids.copyWithin(to * 16, from * 16, from * 16 + 16)
  }

  private swap(a: number, b: number): void {
    const due = this.due[a]!
    const kind = this.kinds[a]!
    const year = this.years[a]!
    this.scratch.set(this.ids.subarray(a * 16, a * 16 + 16))
    this.move(b, a)
    this.write(b, due, kind, year)
    this.ids.set(this.scratch, b * 16)
  }

  private siftUp(at: number): void {
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (this.due[parent]! <= this.due[at]!) return
      this.swap(at, parent)
      at = parent
    }
  }

  private siftDown(at: number): void {
    for (;;) {
      const left = 2 * at + 1
      if (left >= this.count) return
      const right = left + 1
      const child = right < this.count && this.due[right]! < this.due[left]! ? right : left
      if (this.due[at]! <= this.due[child]!) return
      this.swap(at, child)
      at = child
    }
  }

  private grow(): void {
    const capacity = this.due.length * 2
    const due = new Float64Array(capacity)
    due.set(this.due)
    const ids = new Uint8Array(capacity * 16)
    ids.set(this.ids)
    const kinds = new Uint8Array(capacity)
    kinds.set(this.kinds)
    const years = new Uint16Array(capacity)
    years.set(this.years)
    this.due = due
    this.ids = ids
    this.kinds = kinds
    this.years = years
  }
}
