import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Authorization } from "./Authorization.js"
import { DeliveriesGroup } from "./DeliveriesApi.js"
import {
  EmailTaken,
  IdempotencyKeyReused,
  MalformedJson,
  NotReady,
  PayloadTooLarge,
  UserNotFound,
  ValidationError
} from "./Errors.js"
import { ImportGroup } from "./ImportApi.js"
import { LedgerGroup } from "./LedgerCheckApi.js"
import { OccurrencesGroup } from "./OccurrencesApi.js"
import { OperationsGroup } from "./OperationsApi.js"
import { User, UserInputBody, UserPage } from "./User.js"

const idParam = HttpApiSchema.param("id", Schema.String)

/**
 * `GET /users` query: an opaque cursor and a page size of 1–500 (default 100). Both arrive as
 * text and are checked by the server, so a bad value is a `ValidationError` naming the parameter.
 */
export const UserListParams = Schema.Struct({
  cursor: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.String.annotations({ description: "1–500, default 100" }))
})

/** The users resource. */
export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.post("create", "/users")
      .annotate(OpenApi.Summary, "Create a user")
      .setPayload(UserInputBody)
      .setHeaders(Schema.Struct({ "idempotency-key": Schema.optional(Schema.String) }))
      .addSuccess(User, { status: 201 })
      .addError(ValidationError)
      .addError(MalformedJson)
      .addError(PayloadTooLarge)
      .addError(EmailTaken)
      .addError(IdempotencyKeyReused)
      .annotate(OpenApi.Description, "Create a user. Send `Idempotency-Key` to make retries safe.")
  )
  .add(
    HttpApiEndpoint.get("list", "/users")
      .annotate(OpenApi.Summary, "List users")
      .setUrlParams(UserListParams)
      .addSuccess(UserPage)
      .addError(ValidationError)
      .annotate(OpenApi.Description, "Live users in a stable order, one page at a time.")
  )
  .add(
    HttpApiEndpoint.get("get")`/users/${idParam}`
      .annotate(OpenApi.Summary, "Get a user")
      .addSuccess(User)
      .addError(UserNotFound)
      .annotate(OpenApi.Description, "One live user by id.")
  )
  .add(
    HttpApiEndpoint.put("update")`/users/${idParam}`
      .annotate(OpenApi.Summary, "Replace a user")
      .setPayload(UserInputBody)
      .addSuccess(User)
      .addError(ValidationError)
      .addError(MalformedJson)
      .addError(PayloadTooLarge)
      .addError(UserNotFound)
      .addError(EmailTaken)
      .annotate(OpenApi.Description, "Replace a user's fields; pending greetings are recomputed.")
  )
  .add(
    HttpApiEndpoint.del("remove")`/users/${idParam}`
      .annotate(OpenApi.Summary, "Delete a user")
      .addSuccess(HttpApiSchema.NoContent)
      .addError(UserNotFound)
      .annotate(OpenApi.Description, "Soft-delete a user and cancel their pending greetings.")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Description, "Users and their birthdays and anniversaries.")
{}

/** Liveness and readiness. */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("live", "/health/live")
      .annotate(OpenApi.Summary, "Liveness")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .annotate(OpenApi.Description, "The process answers.")
  )
  .add(
    HttpApiEndpoint.get("ready", "/health/ready")
      .annotate(OpenApi.Summary, "Readiness")
      .annotate(
        OpenApi.Description,
        "Postgres reachable and migrations applied; slices, NATS and the delivery consumer reported."
      )
      .addSuccess(Schema.Struct({
        status: Schema.Literal("ok"),
        checks: Schema.Record({ key: Schema.String, value: Schema.String })
      }))
      .addError(NotReady)
  )
  .annotate(OpenApi.Description, "Probes for orchestrators and load balancers; open and never rate limited.")
{}

/** The birthday-scheduler HTTP API, shared by the server, the CLI and the tests. */
export class BirthdayApi extends HttpApi.make("birthday-api")
  .add(UsersGroup)
  .add(HealthGroup)
  .add(OccurrencesGroup)
  .add(ImportGroup)
  .add(OperationsGroup)
  .add(DeliveriesGroup)
  .add(LedgerGroup)
  .annotate(OpenApi.Title, "birthday-scheduler API")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(OpenApi.Description, "Schedules birthday and anniversary greetings for users in their own time zones.")
  .annotate(OpenApi.Servers, [{ url: "/", description: "The server that serves this document" }])
{}
