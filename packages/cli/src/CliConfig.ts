import {
  impossibleDateTime,
  isoInstantPattern,
  maxInstantMillis,
  minInstantMillis
} from "@birthday/domain/CalendarFields"
import { OccasionKindName } from "@birthday/domain/OccasionKind"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

/** Defaults that reach a server started with `pnpm start` on this machine. */
export const defaults = {
  url: "http://127.0.0.1:8080",
  importBatchSize: 2_000,
  importConcurrency: 2
} as const

/** `BIRTHDAY_URL`: the API's base URL. */
export const BaseUrlConfig = Config.string("BIRTHDAY_URL").pipe(
  Config.withDefault(defaults.url),
  Config.withDescription("Base URL of the birthday-scheduler API")
)

/** `BIRTHDAY_TOKEN`: the bearer token, when the server has `API_TOKENS` set. */
export const TokenConfig = Config.redacted("BIRTHDAY_TOKEN").pipe(
  Config.withDescription("Bearer token for the API (empty when the server runs without API_TOKENS)")
)

/** `--url` and `--token`, falling back to `BIRTHDAY_URL` and `BIRTHDAY_TOKEN`; on every command. */
export const connectionOptions = {
  url: Options.text("url").pipe(
    Options.withFallbackConfig(BaseUrlConfig),
    Options.withDescription(`API base URL (env BIRTHDAY_URL, default ${defaults.url})`)
  ),
  token: Options.redacted("token").pipe(
    Options.withFallbackConfig(TokenConfig),
    Options.optional,
    Options.withDescription("Bearer token (env BIRTHDAY_TOKEN)")
  )
} as const

/** `--json`: machine-readable output instead of tables. */
export const jsonOption = Options.boolean("json").pipe(
  Options.withDescription("Print JSON instead of a table (for scripts)")
)

/** The parsed connection options. */
export interface Connection {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted>
}

const bareDate = /^\d{4}-\d{2}-\d{2}$/

/** At most 64 characters of what was typed, anything outside printable ASCII escaped (an ESC acts on a terminal). */
const shown = (text: string) => {
  const escaped = text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
  return escaped.length > 64 ? `${escaped.slice(0, 64)}…` : escaped
}

/** Why `text` is not an instant the API takes, if it is not; a bare date is midnight UTC. */
const instantProblem = (text: string): string | undefined => {
  const instant = bareDate.test(text) ? `${text}T00:00:00Z` : text
  // Date read a time without a zone in the host's zone, and years past 9999 that the server refuses.
  if (!isoInstantPattern.test(instant)) {
    return "must be an ISO 8601 instant with a zone (2027-01-01T00:00:00Z) or a date (2027-01-01, midnight UTC)"
  }
  const impossible = impossibleDateTime(instant)
  if (impossible !== undefined) return `does not exist: ${impossible}`
  const ms = Date.parse(instant)
  return ms >= minInstantMillis && ms <= maxInstantMillis ? undefined : "must be between years 0001 and 9999"
}

/**
 * `--from` / `--to` as instants: an ISO 8601 date-time with its zone (2027-01-01T00:00:00Z), or a
 * bare date, taken as midnight UTC. Anything else the API would refuse is bad usage naming the
 * option: a date that does not exist (Date rolls 2026-02-30 over to March 2), a time without a
 * zone (Date reads it in the host's zone), a year outside 0001–9999.
 */
export const instantOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("date"),
    Options.mapEffect((text) => {
      const problem = instantProblem(text)
      return problem === undefined
        ? Effect.succeed(DateTime.unsafeMake(bareDate.test(text) ? `${text}T00:00:00Z` : text))
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name} ${shown(text)} ${problem}`)))
    }),
    Options.optional,
    Options.withDescription(`${description}; ISO 8601 with a zone (2027-01-01T00:00:00Z) or a date (midnight UTC)`)
  )

/**
 * A whole-number option from `min` to `max`: anything else is bad usage (exit 2, naming the
 * option) before a request is made, never a request the client or the server refuses.
 */
export const wholeNumberOption = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  Options.integer(name).pipe(
    Options.filterMap(
      (n) => n >= min && n <= max ? Option.some(n) : Option.none(),
      max === Number.MAX_SAFE_INTEGER
        ? `--${name} must be a whole number of at least ${min}`
        : `--${name} must be a whole number from ${min} to ${max}`
    )
  )

/** `--kind`: one of the occasion kinds (else bad usage listing them). */
export const kindOption = (description: string) =>
  Options.choice("kind", OccasionKindName.literals).pipe(Options.optional, Options.withDescription(description))

/** `--limit`, `--cursor` and `--all`, on every listing. */
export const pagingOptions = {
  limit: wholeNumberOption("limit", 1, 500).pipe(Options.withDefault(100), Options.withDescription("Page size, 1–500")),
  cursor: Options.text("cursor").pipe(Options.optional, Options.withDescription("Cursor of the page to show")),
  all: Options.boolean("all").pipe(Options.withDescription("Follow cursors and list everything that matches"))
}
