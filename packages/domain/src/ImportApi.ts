import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Authorization } from "./Authorization.js"
import { bulkImportLimits } from "./BulkImportLimits.js"
import { FieldIssue, MalformedJson, PayloadTooLarge, ValidationError } from "./Errors.js"
import { UserInputBody, userInputJsonSchema } from "./User.js"

/** One row of an import file: its line number in the file (the header is line 1) and its fields. */
export const ImportRow = Schema.Struct({
  line: Schema.Int,
  user: UserInputBody
}).annotations({ identifier: "ImportRow" })
export type ImportRow = typeof ImportRow.Type

/** A batch of rows to import, as the server checks it. */
export const BulkImportEnvelope = Schema.Struct({
  rows: Schema.Array(ImportRow).pipe(Schema.maxItems(bulkImportLimits.maxRows))
}).annotations({ identifier: "BulkImportEnvelope" })
export type BulkImportRequest = typeof BulkImportEnvelope.Type

/**
 * The request body of `POST /users/bulk`: passed through as is by the client (encoding 5,000 rows
 * field by field would cost the CLI more than sending them), checked by the server against
 * `BulkImportEnvelope`; OpenAPI shows the envelope's rules.
 */
export const BulkImportRequest = Schema.declare(
  (_: unknown): _ is BulkImportRequest => true,
  {
    identifier: "BulkImportRequest",
    // Written out rather than derived: a derived document carries its own `$defs`, whose `$ref`s
    // do not resolve inside the OpenAPI document (a generated client broke on them).
    jsonSchema: {
      type: "object",
      required: ["rows"],
      additionalProperties: false,
      properties: {
        rows: {
          type: "array",
          maxItems: bulkImportLimits.maxRows,
          items: {
            type: "object",
            required: ["line", "user"],
            additionalProperties: false,
            properties: {
              line: { type: "integer", description: "Line number in the file (the header is line 1)" },
              user: userInputJsonSchema
            }
          }
        }
      }
    }
  }
)

/** A row the server refused, with its line number and every bad field. */
export class RejectedRow extends Schema.Class<RejectedRow>("RejectedRow")({
  line: Schema.Int,
  message: Schema.String,
  fields: Schema.Array(FieldIssue)
}) {}

/** What a batch did: users created, valid rows skipped as duplicates (email taken), rows rejected. */
export class BulkImportResult extends Schema.Class<BulkImportResult>("BulkImportResult")({
  created: Schema.Int,
  skipped: Schema.Int,
  rejected: Schema.Array(RejectedRow)
}) {}

/** Bulk user import, behind `birthday users import`. */
export class ImportGroup extends HttpApiGroup.make("imports")
  .add(
    HttpApiEndpoint.post("bulk", "/users/bulk")
      .annotate(OpenApi.Summary, "Import users in bulk")
      .setPayload(BulkImportRequest)
      .addSuccess(BulkImportResult)
      .addError(ValidationError)
      .addError(MalformedJson)
      .addError(PayloadTooLarge)
      .annotate(
        OpenApi.Description,
        "Create many users at once (at most 5,000 rows and 8 MiB per request). Every row is validated; " +
          "valid rows are inserted with their occurrences, rows whose email is already taken are skipped, " +
          "and invalid rows are reported with their line number. Safe to repeat."
      )
  )
  .middleware(Authorization)
  .annotate(OpenApi.Description, "Bulk user import, behind `birthday users import`.")
{}
