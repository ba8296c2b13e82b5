import { BirthdayApi, Caller, User } from "@birthday/domain"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { readJsonBody } from "./RequestBody.js"
import { ServerSettings } from "./ServerSettings.js"
import { UserService } from "./UserService.js"

const encodeUser = Schema.encode(User)

/** Handlers of the users group; bodies are read raw so bad JSON and bad fields get precise errors. */
export const UsersHttpLive = HttpApiBuilder.group(BirthdayApi, "users", (handlers) =>
  Effect.gen(function*() {
    const users = yield* UserService
    const { maxBodyBytes } = yield* ServerSettings
    return handlers
      .handleRaw("create", ({ headers, request }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const body = yield* readJsonBody(request, maxBodyBytes)
          const user = yield* users.create(body, caller.name, Option.fromNullable(headers["idempotency-key"]))
          return HttpServerResponse.unsafeJson(user, { status: 201 })
        }))
      .handle("list", ({ urlParams }) =>
        users.list(Option.fromNullable(urlParams.cursor), Option.fromNullable(urlParams.limit)))
      // Answered as JSON built from the row: no User to build and encode through its schema.
      .handleRaw("get", ({ path }) =>
        Effect.map(users.get(path.id), (user) => HttpServerResponse.unsafeJson(user)))
      .handleRaw("update", ({ path, request }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const body = yield* readJsonBody(request, maxBodyBytes)
          const user = yield* users.update(path.id, body, caller.name)
          return yield* HttpServerResponse.json(yield* encodeUser(user).pipe(Effect.orDie)).pipe(Effect.orDie)
        }))
      .handle("remove", ({ path }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          yield* users.remove(path.id, caller.name)
        }))
  }))
