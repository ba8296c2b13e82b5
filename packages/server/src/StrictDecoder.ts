import { FieldIssue, ValidationError } from "@birthday/domain"
import { Either, Schema } from "effect"
import { maxFieldIssues, validationErrorOf } from "./FieldIssues.js"
import { fieldName } from "./FieldName.js"

/**
 * A decoder of a JSON object body that reports every bad field and refuses unknown ones. A body
 * with more unknown keys than an error lists is refused by counting them, before the schema walks
 * each one (60,000 unknown keys cost the parser 0.8 s of one core).
 */
export const strictDecoder = <A, I>(schema: Schema.Schema<A, I> & { readonly fields: Schema.Struct.Fields }) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  const known = new Set(Object.keys(schema.fields))
  return (body: unknown): Either.Either<A, ValidationError> => {
    if (typeof body === "object" && body !== null && !Array.isArray(body)) {
      const unknown = Object.keys(body).filter((key) => !known.has(key))
      if (unknown.length > maxFieldIssues) {
        return Either.left(ValidationError.fromIssues(
          unknown.slice(0, maxFieldIssues).map((key) =>
            new FieldIssue({ field: fieldName(key), reason: "is not a known field" })
          ),
          unknown.length - maxFieldIssues
        ))
      }
    }
    return Either.mapLeft(decode(body), (error) => validationErrorOf(error))
  }
}
