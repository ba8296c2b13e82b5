import { FieldIssue, UserInput, ValidationError } from "@birthday/domain"
import { Clock, Effect, Either } from "effect"
import { strictDecoder } from "./StrictDecoder.js"

const decode = strictDecoder(UserInput)

// Building an Intl.DateTimeFormat costs ~0.3 ms, far more than using one (bulk import validates
// thousands of rows per request), so each zone keeps its formatter.
const dateFormats = new Map<string, Intl.DateTimeFormat>()

const todayIn = (timeZone: string, now: number): string => {
  let format = dateFormats.get(timeZone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
    dateFormats.set(timeZone, format)
  }
  return format.format(now)
}

/**
 * The validation rules as a pure function of the body and the current instant (epoch ms), for
 * callers that validate thousands of rows at one instant (bulk import).
 */
export const checkUserInput = (body: unknown, now: number): Either.Either<UserInput, ValidationError> => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return Either.left(ValidationError.fromIssues([new FieldIssue({ field: "body", reason: "must be a JSON object" })]))
  }
  const decoded = decode(body)
  if (Either.isLeft(decoded)) return decoded
  const input = decoded.right
  const today = todayIn(input.timeZone, now)
  const future = [
    ["birthday", input.birthday],
    ["anniversary", input.anniversary]
  ].flatMap(([field, date]) =>
    typeof date === "string" && date > today
      ? [
        new FieldIssue({ field: field!, reason: `must not be in the future (today is ${today} in ${input.timeZone})` })
      ]
      : []
  )
  return future.length > 0 ? Either.left(ValidationError.fromIssues(future)) : Either.right(input)
}

/**
 * Validates a user body, reporting every bad field and why; dates may not be in the future in
 * the user's own zone ("today" comes from `Clock`).
 */
export const validateUserInput = Effect.fn("UserValidation.validate")(function*(body: unknown) {
  return yield* checkUserInput(body, yield* Clock.currentTimeMillis)
})
