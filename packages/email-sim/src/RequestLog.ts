/**
 * A bounded, time-stamped log of every `POST /send-email` and its outcome, so a test can prove
 * when calls were (not) made, e.g. none while a circuit breaker was open except its probes.
 * A ring buffer: past `capacity` the oldest entries are dropped and their seq numbers skipped.
 */
import { type Page, type PageQuery, scan } from "./Page.js"

/** How one request ended, from the simulator's side. */
export const outcomes = [
  "acknowledged",
  "duplicate",
  "failed",
  "hung",
  "rateLimited",
  "outage",
  "badRequest",
  "abandoned"
] as const
/** How one request ended, from the simulator's side. */
export type Outcome = typeof outcomes[number]

/** One request as `GET /log` returns it. */
export interface LogEntry {
  readonly seq: number
  /** When the request arrived, epoch ms. */
  readonly at: number
  readonly key: string | null
  readonly outcome: Outcome
  /** The request's `User-Agent`, if it had one. */
  readonly sender: string | null
}

/** Ring buffer of request outcomes, columns in plain arrays. */
export class RequestLog {
  private at: Array<number> = []
  private keys: Array<string | null> = []
  private codes: Array<number> = []
  private senders: Array<string | null> = []
  private total = 0

  constructor(readonly capacity: number) {}

  /** Appends an entry; entries are in the order outcomes were settled, `at` is the arrival time. */
  append(at: number, key: string | null, outcome: Outcome, sender: string | null = null): void {
    const slot = this.total % this.capacity
    this.at[slot] = at
    this.keys[slot] = key
    this.senders[slot] = sender
    this.codes[slot] = outcomes.indexOf(outcome)
    this.total++
  }

  /** One page of the entries still held. */
  page(query: PageQuery): Page<LogEntry> {
    const first = Math.max(1, this.total - this.capacity + 1)
    const slot = (seq: number) => (seq - 1) % this.capacity
    return scan(first, this.total, query, (seq) => this.at[slot(seq)], (seq) => ({
      seq,
      at: this.at[slot(seq)],
      key: this.keys[slot(seq)],
      outcome: outcomes[this.codes[slot(seq)]],
      sender: this.senders[slot(seq)] ?? null
    }))
  }
}
