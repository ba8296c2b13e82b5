import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Schema } from "effect"

/** One rejected field and why. */
export class FieldIssue extends Schema.Class<FieldIssue>("FieldIssue")({
  field: Schema.String,
  reason: Schema.String
}) {}

/** The request was well-formed JSON but one or more fields are invalid. */
export class ValidationError extends Schema.TaggedError<ValidationError>()(
  "ValidationError",
  { message: Schema.String, fields: Schema.Array(FieldIssue) },
  HttpApiSchema.annotations({ status: 400 })
) {
  /** `omitted` counts the fields that failed too but are not listed (an error stays short). */
  static fromIssues(fields: ReadonlyArray<FieldIssue>, omitted = 0): ValidationError {
    const more = omitted > 0 ? [`and ${omitted} more field${omitted === 1 ? "" : "s"}`] : []
    return new ValidationError({
      message: `Invalid input: ${[...fields.map((issue) => `${issue.field} ${issue.reason}`), ...more].join("; ")}`,
      fields
    })
  }
}

/** The body could not be parsed as JSON. */
export class MalformedJson extends Schema.TaggedError<MalformedJson>()(
  "MalformedJson",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** No live user has this id. */
export class UserNotFound extends Schema.TaggedError<UserNotFound>()(
  "UserNotFound",
  { id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {
  static of(id: string): UserNotFound {
    return new UserNotFound({ id, message: `No user with id ${id}` })
  }
}

/** Another live user already has this email. */
export class EmailTaken extends Schema.TaggedError<EmailTaken>()(
  "EmailTaken",
  { email: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {
  static of(email: string): EmailTaken {
    return new EmailTaken({ email, message: `A user with email ${email} already exists` })
  }
}

/** An `Idempotency-Key` was reused for a different request (other fields once validated). */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()(
  "IdempotencyKeyReused",
  { key: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 422 })
) {}

/** Missing or unknown bearer token. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/** A dependency the service needs is not available. */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { message: Schema.String, checks: Schema.Record({ key: Schema.String, value: Schema.String }) },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** The request body is larger than the server accepts. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String, limitBytes: Schema.Number },
  HttpApiSchema.annotations({ status: 413 })
) {}
