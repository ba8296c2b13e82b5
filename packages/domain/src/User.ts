import { Schema } from "effect"
import { emailAddressProblem } from "./EmailAddress.js"
import { LocalDate } from "./LocalDate.js"
import { TimeZone } from "./TimeZone.js"
import {
  characterCount,
  hasBidiControl,
  hasHiddenTagCharacters,
  hasLoneSurrogate,
  hasVisibleCharacter
} from "./UnicodeText.js"
import { UserId } from "./UserId.js"

// Control characters (NUL, ESC, newlines) are refused everywhere: Postgres refuses NUL, and ESC
// sequences stored in a name would reach an operator's terminal. Bidi embeddings, overrides and
// isolates can make a name read as another one, and tag characters carry hidden text. Zero-width
// joiners, bidi marks and combining marks stay allowed (scripts such as Persian and Hebrew need
// them), but a name must show something once every invisible character is taken away.
const controlCharacter = /\p{Cc}/u

/** Refuses half of a surrogate pair, which is no character (see UnicodeText). */
const wellFormed = (value: string) => !hasLoneSurrogate(value) || "must be valid Unicode text"

/** 1–100 characters after trimming, at least one visible, no control characters. */
const Name = Schema.Trim.pipe(
  Schema.filter(wellFormed),
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.filter((value) => !controlCharacter.test(value) || "must not contain control characters"),
  Schema.filter((value) => !hasBidiControl(value) || "must not contain bidirectional override or isolate characters"),
  Schema.filter((value) => !hasHiddenTagCharacters(value) || "must not contain invisible tag characters"),
  Schema.filter((value) => hasVisibleCharacter(value) || "must contain a visible character"),
  Schema.filter((value) => characterCount(value) <= 100 || "must be at most 100 characters")
)

/** An email address, trimmed; what is valid is `emailAddressProblem`'s rule. */
export const Email = Schema.Trim.pipe(
  Schema.filter(wellFormed),
  Schema.filter((value) => characterCount(value) <= 254 || "must be at most 254 characters"),
  Schema.filter((value) => !/[\p{Cc}\p{Cf}]/u.test(value) || "must not contain control or invisible characters"),
  Schema.filter((value) => emailAddressProblem(value) ?? true),
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
  description: `${what}, 1–100 characters (code points) after trimming, at least one visible, ` +
    "no control characters, bidi overrides or isolates"
})

/** The field rules of `UserInput`, as OpenAPI shows them. */
export const userInputJsonSchema = {
  type: "object",
  required: ["firstName", "lastName", "email", "birthday", "timeZone"],
  additionalProperties: false,
  properties: {
    firstName: name("Given name"),
    lastName: name("Family name"),
    email: {
      type: "string",
      format: "email",
      maxLength: 254,
      description: "Unique among live users; name@domain with a dot in the domain (no quoted names, no IP literals)"
    },
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
