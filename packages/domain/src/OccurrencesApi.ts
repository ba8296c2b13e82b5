import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Authorization } from "./Authorization.js"
import { UserNotFound } from "./Errors.js"
import { LedgerState } from "./LedgerState.js"
import { OccasionKindName } from "./OccasionKind.js"

/** A user's next occurrence of one kind, with its due instant in UTC and in the user's zone. */
export class UserOccurrence extends Schema.Class<UserOccurrence>("UserOccurrence")({
  key: Schema.String,
  kind: OccasionKindName,
  year: Schema.Int,
  state: LedgerState,
  localDate: Schema.String,
  dueAt: Schema.DateTimeUtc,
  /** The due instant as local ISO time with the zone's offset, e.g. `2027-04-17T09:00:00.000+10:00`. */
  localDueAt: Schema.String,
  timeZone: Schema.String
}) {}

/** The next occurrence of each kind a user has. */
export class UserOccurrences extends Schema.Class<UserOccurrences>("UserOccurrences")({
  userId: Schema.String,
  items: Schema.Array(UserOccurrence)
}) {}

const idParam = HttpApiSchema.param("id", Schema.String)

/** A user's upcoming greetings. */
export class OccurrencesGroup extends HttpApiGroup.make("occurrences")
  .add(
    HttpApiEndpoint.get("forUser")`/users/${idParam}/occurrences`
      .annotate(OpenApi.Summary, "A user's upcoming greetings")
      .addSuccess(UserOccurrences)
      .addError(UserNotFound)
      .annotate(OpenApi.Description, "The next occurrence of each kind, with `dueAt` in UTC and local time.")
  )
  .middleware(Authorization)
  .annotate(OpenApi.Description, "The greetings scheduled for a user.")
{}
