/**
 * A small typed client for the simulator's read and admin endpoints, for other packages'
 * integration tests: `EmailSimAdmin.outage(baseUrl, 120_000)`, `EmailSimAdmin.stats(baseUrl)`.
 */
import { Data, Effect } from "effect"
import type { FaultPatch } from "./FaultPlan.js"
import type { ReceivedMessage } from "./MessageLedger.js"
import type { Page } from "./Page.js"
import type { LogEntry } from "./RequestLog.js"
import type { SimulatorSettings, SimulatorStats } from "./SimulatorState.js"

/** A call to the simulator failed or answered other than 2xx. */
export class EmailSimAdminError extends Data.TaggedError("EmailSimAdminError")<{
  readonly request: string
  readonly message: string
}> {}

/** Paging for `messages` and `log`; see `GET /messages`. */
export interface PageOptions {
  readonly after?: number
  readonly limit?: number
  /** Epoch ms: only entries at or after it. */
  readonly since?: number
}

/** One page of `GET /messages`. */
export interface MessagesPage {
  readonly messages: ReadonlyArray<ReceivedMessage>
  readonly next: number | null
  readonly total: number
}

/** One page of `GET /log`. */
export interface LogPage {
  readonly entries: ReadonlyArray<LogEntry>
  readonly next: number | null
}

const call = <A>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown
): Effect.Effect<A, EmailSimAdminError> => {
  const request = `${method} ${path}`
  return Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(new URL(path, baseUrl), {
        method,
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${text}`)
      return JSON.parse(text) as A
    },
    catch: (error) =>
      new EmailSimAdminError({ request, message: error instanceof Error ? error.message : String(error) })
  })
}

const pagePath = (path: string, options: PageOptions): string => {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) params.set(name, String(value))
  }
  const query = params.toString()
  return query.length === 0 ? path : `${path}?${query}`
}

/** `GET /stats`. */
export const stats = (baseUrl: string): Effect.Effect<SimulatorStats, EmailSimAdminError> =>
  call(baseUrl, "GET", "/stats")

/** `GET /messages`: one page of acknowledged messages. */
export const messages = (baseUrl: string, options: PageOptions = {}): Effect.Effect<MessagesPage, EmailSimAdminError> =>
  call(baseUrl, "GET", pagePath("/messages", options))

/** `GET /log`: one page of the request log. */
export const log = (baseUrl: string, options: PageOptions = {}): Effect.Effect<LogPage, EmailSimAdminError> =>
  call(baseUrl, "GET", pagePath("/log", options))

const collect = <A>(
  read: (after: number) => Effect.Effect<Page<A>, EmailSimAdminError>
): Effect.Effect<ReadonlyArray<A>, EmailSimAdminError> =>
  Effect.gen(function*() {
    const all: Array<A> = []
    let after: number | null = 0
    while (after !== null) {
      const page: Page<A> = yield* read(after)
      all.push(...page.items)
      after = page.next
    }
    return all
  })

/** Every acknowledged message (at or after `since`), following the pages. */
export const allMessages = (
  baseUrl: string,
  options: Omit<PageOptions, "after"> = {}
): Effect.Effect<ReadonlyArray<ReceivedMessage>, EmailSimAdminError> =>
  collect((after) =>
    Effect.map(messages(baseUrl, { ...options, after }), (page) => ({ items: page.messages, next: page.next }))
  )

/** Every request-log entry still held (at or after `since`), following the pages. */
export const allLog = (
  baseUrl: string,
  options: Omit<PageOptions, "after"> = {}
): Effect.Effect<ReadonlyArray<LogEntry>, EmailSimAdminError> =>
  collect((after) =>
    Effect.map(log(baseUrl, { ...options, after }), (page) => ({ items: page.entries, next: page.next }))
  )

/** `GET /admin/config`. */
export const config = (baseUrl: string): Effect.Effect<SimulatorSettings, EmailSimAdminError> =>
  call(baseUrl, "GET", "/admin/config")

/** `PUT /admin/config`: a partial update of the faults, seed or outage. */
export const setConfig = (baseUrl: string, patch: FaultPatch): Effect.Effect<SimulatorSettings, EmailSimAdminError> =>
  call(baseUrl, "PUT", "/admin/config", patch)

/** `POST /admin/outage`: every request gets 503 for `forMs`, or until `endOutage` when omitted. */
export const outage = (baseUrl: string, forMs?: number): Effect.Effect<SimulatorSettings, EmailSimAdminError> =>
  call(baseUrl, "POST", "/admin/outage", forMs === undefined ? {} : { forMs })

/** `DELETE /admin/outage`. */
export const endOutage = (baseUrl: string): Effect.Effect<SimulatorSettings, EmailSimAdminError> =>
  call(baseUrl, "DELETE", "/admin/outage")

/** `POST /admin/reset`: forget everything received and restore the startup faults. */
export const reset = (baseUrl: string): Effect.Effect<SimulatorSettings, EmailSimAdminError> =>
  call(baseUrl, "POST", "/admin/reset")
