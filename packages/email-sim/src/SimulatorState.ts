/**
 * Everything the simulator knows at run time: the faults in force, the outage window, the PRNG,
 * the acknowledged messages, the request log and the counters. Plain mutable JS because it sits
 * on the request hot path; "now" is injected (the server passes Effect's `Clock`).
 */
import * as FaultPlan from "./FaultPlan.js"
import { MessageLedger } from "./MessageLedger.js"
import { type Outcome, RequestLog } from "./RequestLog.js"
import * as SeededRandom from "./SeededRandom.js"

/** The counters `GET /stats` returns. */
export interface SimulatorStats {
  /** Every `POST /send-email`, whatever became of it. */
  readonly received: number
  /** Messages stored: first acknowledged attempt per key, plus every keyless 200. */
  readonly acknowledged: number
  /** Distinct `Idempotency-Key`s among acknowledged messages. */
  readonly distinctKeys: number
  /** Repeats of an acknowledged key: answered 200 `duplicate: true`, not stored again. */
  readonly duplicatesRefused: number
  /** Injected 500/503 answers. */
  readonly failed: number
  /** Requests the simulator chose to hang. */
  readonly hung: number
  readonly rateLimited: number
  readonly outageRejected: number
  readonly badRequest: number
  /** Requests that would have been acknowledged but whose client had gone (not stored). */
  readonly abandoned: number
  /** Answers sent, by HTTP status. */
  readonly byStatus: Readonly<Record<string, number>>
}

/** The faults in force as `GET /admin/config` returns them. */
export interface SimulatorSettings extends FaultPlan.FaultSettings {
  readonly seed: number
  /** `untilMs: null` while active means until further notice. */
  readonly outage: { readonly active: boolean; readonly untilMs: number | null }
}

type Counters = {
  -readonly [K in Exclude<keyof SimulatorStats, "acknowledged" | "byStatus" | "distinctKeys">]: number
}

const zeroCounters = (): Counters => ({
  received: 0,
  duplicatesRefused: 0,
  failed: 0,
  hung: 0,
  rateLimited: 0,
  outageRejected: 0,
  badRequest: 0,
  abandoned: 0
})

/** The simulator's mutable state. */
export class SimulatorState {
  faults: FaultPlan.FaultSettings
  outageEndsAt = FaultPlan.noOutage
  random: SeededRandom.SeededRandom
  rateLimit = new FaultPlan.ThrottleGate()
  ledger = new MessageLedger()
  log: RequestLog
  counters = zeroCounters()
  byStatus: Record<string, number> = {}
  /** Bumped by `reset`, so answers still pending from before it do not touch the new state. */
  epoch = 0

  constructor(
    private readonly initialFaults: FaultPlan.FaultSettings,
    private readonly initialSeed: number,
    private readonly logCapacity: number,
    readonly now: () => number
  ) {
    this.faults = initialFaults
    this.random = SeededRandom.make(initialSeed)
    this.log = new RequestLog(logCapacity)
  }

  /** Decides the fate of a request arriving now, with `inFlight` others waiting for their answer. */
  decide(now: number, inFlight: number): FaultPlan.Decision {
    const decision = FaultPlan.decide(this.faults, this.outageEndsAt, now, this.random, inFlight)
    if (decision._tag === "Outage" || this.rateLimit.admit(this.faults.rateLimitPerSecond, now)) return decision
    return { _tag: "RateLimited", delayMs: 0, retryAfterSeconds: this.faults.retryAfterSeconds }
  }

  /** Counts one answer with `status`. */
  answered(status: number): void {
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1
  }

  /** Records a settled request in the log (counters are bumped by the caller). */
  settled(at: number, from: { readonly key: string | null; readonly sender: string | null }, outcome: Outcome): void {
    this.log.append(at, from.key, outcome, from.sender)
  }

  /** Applies a partial update of the faults, the seed and the outage. */
  configure(patch: FaultPlan.FaultPatch): void {
    this.faults = FaultPlan.applyPatch(this.faults, patch)
    if (patch.seed !== undefined) this.random = SeededRandom.make(patch.seed)
    if (patch.outage !== undefined) this.outageEndsAt = FaultPlan.outageUntil(patch.outage, this.now())
  }

  /** Forgets every message, log entry and counter, ends any outage and restores the startup faults and seed. */
  reset(): void {
    this.faults = this.initialFaults
    this.outageEndsAt = FaultPlan.noOutage
    this.random = SeededRandom.make(this.initialSeed)
    this.rateLimit = new FaultPlan.ThrottleGate()
    this.ledger = new MessageLedger()
    this.log = new RequestLog(this.logCapacity)
    this.counters = zeroCounters()
    this.byStatus = {}
    this.epoch++
  }

  /** The faults in force. */
  settings(): SimulatorSettings {
    const active = FaultPlan.inOutage(this.outageEndsAt, this.now())
    return {
      ...this.faults,
      seed: this.random.seed,
      outage: { active, untilMs: active && Number.isFinite(this.outageEndsAt) ? this.outageEndsAt : null }
    }
  }

  /** A snapshot of the counters. */
  stats(): SimulatorStats {
    return {
      ...this.counters,
      acknowledged: this.ledger.size,
      distinctKeys: this.ledger.distinctKeys,
      byStatus: { ...this.byStatus }
    }
  }
}
