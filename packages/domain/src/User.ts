import { Schema } from "effect"
import { LocalDate } from "./LocalDate.js"
import { TimeZone } from "./TimeZone.js"
import { characterCount, hasLoneSurrogate } from "./UnicodeText.js"
import { UserId } from "./UserId.js"

// Control characters (NUL, ESC, newlines) are refused everywhere: Postgres refuses NUL, and ESC
// sequences stored in a name would reach an operator's terminal. Bidi overrides can make a name
// read as another one. Zero-width joiners stay allowed (scripts such as Persian need them), but a
// name must show something.
const controlCharacter = /\p{Cc}/u
const bidiOverride = /[\u202A-\u202E\u2066-\u2069]/u
const invisibleOnly = /^[\p{Cf}\p{Z}\p{M}\s]*$/u

/** Refuses half of a surrogate pair, which is no character (see UnicodeText). */
const wellFormed = (value: string) => !hasLoneSurrogate(value) || "must be valid Unicode text"

/** 1–100 characters after trimming, at least one visible, no control characters. */
const Name = Schema.Trim.pipe(
  Schema.filter(wellFormed),
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.filter((value) => !controlCharacter.test(value) || "must not contain control characters"),
  Schema.filter((value) => !bidiOverride.test(value) || "must not contain bidirectional override characters"),
  Schema.filter((value) => !invisibleOnly.test(value) || "must contain a visible character"),
  Schema.filter((value) => characterCount(value) <= 100 || "must be at most 100 characters")
)

// Deliberately pragmatic: one @, no spaces, a dot in the domain; the provider is the final judge.
const emailPattern = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/

/** An email address, trimmed. */
export const Email = Schema.Trim.pipe(
  Schema.filter(wellFormed),
  Schema.filter((value) => characterCount(value) <= 254 || "must be at most 254 characters"),
  Schema.filter((value) => !/[\p{Cc}\p{Cf}]/u.test(value) || "must not contain control or invisible characters"),
  Schema.filter((value) => emailPattern.test(value) || "must be a valid email address (name@example.com)"),
  Schema.brand("Email")
).annotations({ identifier: "Email", examples: ["ada@example.com" as never] })
export type Email = typeof Email.Type

const userFields = {
  firstName: Name,
  lastName: Name,
  email: Email,
  birthday: LocalDate,
  timeZone: TimeZone,
  anniversary: Schema.optionalWith(Schema.NullOr(LocalDate), { exact: true })
}

/** The fields an integrator sends to create or replace a user (validated strictly by the server). */
export class UserInput extends Schema.Class<UserInput>("UserInput")(userFields) {}

/** The plain JSON shape of `UserInput`, as an integrator writes it. */
export interface UserInputJson {
  readonly firstName: string
  readonly lastName: string
  readonly email: string
  readonly birthday: string
  readonly timeZone: string
  readonly anniversary?: string | null
}

const date = (what: string) => ({
  type: "string",
  format: "date",
  pattern: "^\\d{4}-\\d{2}-\\d{2}$",
  description: `${what}: a date only (YYYY-MM-DD), year 1900 or later, not in the future in the user's zone`
})

const name = (what: string) => ({
  type: "string",
  minLength: 1,
  maxLength: 100,
  pattern: "^[^\\u0000-\\u001F\\u007F]*$",
  description: `${what}, 1–100 characters (code points) after trimming, at least one visible, no control characters`
})

/** The field rules of `UserInput`, as OpenAPI shows them. */
export const userInputJsonSchema = {
  type: "object",
  required: ["firstName", "lastName", "email", "birthday", "timeZone"],
  additionalProperties: false,
  properties: {
    firstName: name("Given name"),
    lastName: name("Family name"),
    email: { type: "string", format: "email", maxLength: 254, description: "Unique among live users" },
    birthday: date("Birthday"),
    timeZone: {
      type: "string",
      description: "IANA zone name; links are stored canonically (Asia/Calcutta → Asia/Kolkata)",
      examples: ["Europe/Berlin"]
    },
    anniversary: { anyOf: [date("Anniversary"), { type: "null" }] }
  }
} as const

/**
 * The request body of user writes. It accepts any JSON on the wire so that the server, not the
 * HTTP decoder, reports every bad field at once with a readable reason; OpenAPI still shows the
 * real field rules.
 */
export const UserInputBody = Schema.declare(
  (_: unknown): _ is UserInputJson => true,
  {
    identifier: "UserInputBody",
    jsonSchema: userInputJsonSchema
  }
)

/** A stored user as the API returns it. */
export class User extends Schema.Class<User>("User")({
  id: UserId,
  firstName: Schema.String,
  lastName: Schema.String,
  email: Schema.String,
  birthday: LocalDate,
  timeZone: Schema.String,
  anniversary: Schema.NullOr(LocalDate),
  createdAt: Schema.DateTimeUtc,
  updatedAt: Schema.DateTimeUtc
}) {
  /** `firstName + " " + lastName`, as greetings use it. */
  get fullName(): string {
    return `${this.firstName} ${this.lastName}`
  }
}

/** One page of users and the cursor of the next page (null on the last page). */
export class UserPage extends Schema.Class<UserPage>("UserPage")({
  items: Schema.Array(User),
  nextCursor: Schema.NullOr(Schema.String)
}) {}
