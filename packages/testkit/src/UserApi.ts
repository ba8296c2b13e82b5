/**
 * The integrator's side of the API over plain HTTP: create, edit and delete users (one or many,
 * concurrently), read their occurrences and run the ledger check. Failures are typed, not
 * defects, so a scenario that cuts the network can count them.
 */
import type { UserInputJson } from "@birthday/domain"
import { Data, Effect } from "effect"
import { randomUUID } from "node:crypto"

/** An API call failed (network) or answered other than 2xx. */
export class ApiCallError extends Data.TaggedError("ApiCallError")<{
  readonly request: string
  readonly status: number | null
  readonly body: string
}> {}

/** A user as the API returns it. */
export interface ApiUser extends UserInputJson {
  readonly id: string
  readonly createdAt: string
  readonly updatedAt: string
}

/** The calls a scenario makes. */
export interface UserApi {
  readonly baseUrl: string
  readonly request: <A>(method: string, path: string, body?: unknown) => Effect.Effect<A, ApiCallError>
  readonly create: (input: UserInputJson) => Effect.Effect<ApiUser, ApiCallError>
  /** Creates all, `concurrency` at a time (default 16), in input order. */
  readonly createMany: (
    inputs: ReadonlyArray<UserInputJson>,
    concurrency?: number
  ) => Effect.Effect<Array<ApiUser>, ApiCallError>
  readonly update: (id: string, input: UserInputJson) => Effect.Effect<ApiUser, ApiCallError>
  readonly remove: (id: string) => Effect.Effect<void, ApiCallError>
  readonly occurrences: (
    id: string
  ) => Effect.Effect<{ readonly items: ReadonlyArray<Record<string, unknown>> }, ApiCallError>
}

/** A valid user body with a unique email; override any field. */
export const userInput = (overrides: Partial<UserInputJson> = {}): UserInputJson => ({
  firstName: "Ada",
  lastName: "Lovelace",
  email: `ada-${randomUUID()}@example.com`,
  birthday: "1990-04-17",
  timeZone: "UTC",
  ...overrides
})

/**
 * A client of the API at `baseUrl`, with a bearer `token` when the server has `API_TOKENS`; a
 * call without an answer in `timeoutMs` (default 30 s) fails.
 */
export const userApi = (baseUrl: string, token?: string, timeoutMs = 30_000): UserApi => {
  const request = <A>(method: string, path: string, body?: unknown) =>
    Effect.tryPromise({
      try: async (signal) => {
        const response = await fetch(new URL(path, baseUrl), {
          method,
          signal,
          headers: {
            ...(body === undefined ? {} : { "content-type": "application/json" }),
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        const text = await response.text()
        if (!response.ok) throw new ApiCallError({ request: `${method} ${path}`, status: response.status, body: text })
        return (text.length === 0 ? undefined : JSON.parse(text)) as A
      },
      catch: (error) =>
        error instanceof ApiCallError
          ? error
          : new ApiCallError({ request: `${method} ${path}`, status: null, body: String(error) })
    }).pipe(
      // A server whose socket listens before the app is mounted never answers: give up.
      Effect.timeoutFail({
        duration: timeoutMs,
        onTimeout: () =>
          new ApiCallError({ request: `${method} ${path}`, status: null, body: `no answer in ${timeoutMs} ms` })
      })
    )
  const create = (input: UserInputJson) => request<ApiUser>("POST", "/users", input)
  return {
    baseUrl,
    request,
    create,
    createMany: (inputs, concurrency = 16) => Effect.forEach(inputs, create, { concurrency }),
    update: (id, input) => request<ApiUser>("PUT", `/users/${id}`, input),
    remove: (id) => Effect.asVoid(request("DELETE", `/users/${id}`)),
    occurrences: (id) => request("GET", `/users/${id}/occurrences`)
  }
}
