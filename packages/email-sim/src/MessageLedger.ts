/**
 * The acknowledged messages, stored column-wise in plain arrays so that a million of them cost
 * a few hundred bytes each rather than one object (plus hidden class and headers) per message.
 */
import { type Page, type PageQuery, scan } from "./Page.js"

/** One acknowledged message as `GET /messages` returns it. */
export interface ReceivedMessage {
  readonly seq: number
  readonly id: string
  /** The `Idempotency-Key` it carried, or `null` when it had none. */
  readonly key: string | null
  readonly email: string
  readonly message: string
  /** When the acknowledged attempt arrived, epoch ms. */
  readonly receivedAt: number
  /** Every request that carried this key, whatever its outcome (1 for a message without a key). */
  readonly attempts: number
}

/** The provider's id for the message with this seq. */
export const messageId = (seq: number): string => `msg_${seq}`

/** Append-only store of acknowledged messages, with the idempotency index. */
export class MessageLedger {
  private keys: Array<string | null> = []
  private emails: Array<string> = []
  private bodies: Array<string> = []
  private receivedAt: Array<number> = []
  private attempts: Array<number> = []
  private readonly seqByKey = new Map<string, number>()
  // Attempts of keys not acknowledged yet; moved onto the message when one is.
  private readonly pendingAttempts = new Map<string, number>()

  /** Number of acknowledged messages. */
  get size(): number {
    return this.keys.length
  }

  /** Number of distinct idempotency keys among acknowledged messages. */
  get distinctKeys(): number {
    return this.seqByKey.size
  }

  /** Counts one more request carrying `key`. */
  noteAttempt(key: string): void {
    const seq = this.seqByKey.get(key)
    if (seq !== undefined) this.attempts[seq - 1]++
    else this.pendingAttempts.set(key, (this.pendingAttempts.get(key) ?? 0) + 1)
  }

  /** The seq of the message already acknowledged under `key`, if any. */
  acknowledgedSeq(key: string): number | undefined {
    return this.seqByKey.get(key)
  }

  /** Stores a newly acknowledged message and returns its seq. The caller checked `key` is new. */
  acknowledge(key: string | null, email: string, message: string, receivedAt: number): number {
    this.keys.push(key)
    this.emails.push(email)
    this.bodies.push(message)
    this.receivedAt.push(receivedAt)
    const seq = this.keys.length
    if (key === null) {
      this.attempts.push(1)
    } else {
      this.attempts.push(this.pendingAttempts.get(key) ?? 1)
      this.pendingAttempts.delete(key)
      this.seqByKey.set(key, seq)
    }
    return seq
  }

  /** One page of acknowledged messages in acknowledgement order. */
  page(query: PageQuery): Page<ReceivedMessage> {
    return scan(1, this.keys.length, query, (seq) => this.receivedAt[seq - 1], (seq) => this.get(seq))
  }

  private get(seq: number): ReceivedMessage {
    const i = seq - 1
    return {
      seq,
      id: messageId(seq),
      key: this.keys[i],
      email: this.emails[i],
      message: this.bodies[i],
      receivedAt: this.receivedAt[i],
      attempts: this.attempts[i]
    }
  }
}
