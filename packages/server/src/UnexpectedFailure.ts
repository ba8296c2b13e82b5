import { Cause } from "effect"

/**
 * The answer to a request that failed in a way no handler answers itself. Most such failures
 * are defects (500 `InternalError`, logged). One is not: the database could not give the request
 * a connection in time (every pooled connection busy for `DATABASE_CONNECT_TIMEOUT`, or Postgres
 * not answering). That is load or an outage, not a bug, and the client should retry: 503
 * `DatabaseBusy` with `Retry-After`, as `Starting` and `ShuttingDown` are. Break-it reviews saw
 * reads and edits answered 500 when a burst of slow requests held the whole pool.
 */
export interface FailureAnswer {
  readonly status: number
  readonly body: { readonly _tag: string; readonly message: string }
  readonly headers: Record<string, string>
  /** Whether it is worth an error log line (a defect); a busy database is logged by its own alerts. */
  readonly defect: boolean
}

const connectionUnavailable = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false
  const { _tag, cause, code, message } = error as {
    readonly _tag?: unknown
    readonly cause?: unknown
    readonly code?: unknown
    readonly message?: unknown
  }
  if (typeof message === "string") {
    // pg-pool, when no connection frees up within connectionTimeoutMillis; pg, when connecting times out.
    if (message.includes("timeout exceeded when trying to connect")) return true
    if (message.includes("Connection terminated due to connection timeout")) return true
  }
  if (code === "ECONNREFUSED" || code === "57P03") return true
  // @effect/sql wraps the driver's error (SqlError.cause).
  return _tag === "SqlError" && connectionUnavailable(cause)
}

const databaseBusy: FailureAnswer = {
  status: 503,
  body: { _tag: "DatabaseBusy", message: "The database could not serve the request in time; retry shortly" },
  headers: { "retry-after": "1" },
  defect: false
}

const internalError: FailureAnswer = {
  status: 500,
  body: { _tag: "InternalError", message: "Internal server error" },
  headers: {},
  defect: true
}

/** How to answer `cause`, a failure or defect no handler answered. */
export const unexpectedFailure = (cause: Cause.Cause<unknown>): FailureAnswer => {
  const reasons = [...Cause.failures(cause), ...Cause.defects(cause)]
  return reasons.some(connectionUnavailable) ? databaseBusy : internalError
}

/** `unexpectedFailure` of a rejected promise's reason (the routes served outside Effect). */
export const unexpectedRejection = (reason: unknown): FailureAnswer =>
  connectionUnavailable(reason) ? databaseBusy : internalError
