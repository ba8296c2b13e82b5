import * as Duration from "effect/Duration"
import * as Record from "effect/Record"
import * as Schema from "effect/Schema"

/** How a Feb 29 anchor is observed in a non-leap year: on Feb 28 or on Mar 1. */
export const Feb29Policy = Schema.Literal("feb28", "mar1")
export type Feb29Policy = typeof Feb29Policy.Type

/** A local wall-clock time of day (24-hour). */
export interface LocalTime {
  readonly hour: number
  readonly minute: number
}

/** The user fields an occasion can anchor on; a new kind adds its date field here and on `User`. */
export type AnchorField = "birthday" | "anniversary"

/** The part of a kind that a deployment may configure (see `OccasionSettings`). */
export interface OccasionKindSettings {
  /** Local time of day at which the greeting is due. */
  readonly sendTime: LocalTime
  /** How late a missed greeting may still be sent; older ones are recorded as expired. */
  readonly lateWindow: Duration.Duration
  readonly feb29: Feb29Policy
}

/** A kind as written down once: its anchor, its message and its default settings. */
export interface OccasionKindDefinition extends OccasionKindSettings {
  readonly anchor: AnchorField
  /** The message; `{full_name}` is replaced by `firstName + " " + lastName`. */
  readonly template: string
}

const defaultSettings: OccasionKindSettings = {
  sendTime: { hour: 9, minute: 0 },
  lateWindow: Duration.hours(48),
  feb29: "feb28"
}

// The one place kinds are defined: adding a kind is one entry here plus its user field.
const definitions = {
  birthday: { ...defaultSettings, anchor: "birthday", template: "Hey, {full_name} it's your birthday" },
  anniversary: { ...defaultSettings, anchor: "anniversary", template: "Hey, {full_name} happy anniversary!" }
} satisfies Record<string, OccasionKindDefinition>

/** The name of an occasion kind (`birthday`, `anniversary`). */
export type OccasionKindName = keyof typeof definitions

/** The schema of kind names, derived from the definitions so it never drifts from them. */
export const OccasionKindName = Schema.Literal(
  ...(Object.keys(definitions) as [OccasionKindName, ...Array<OccasionKindName>])
).annotations({ identifier: "OccasionKindName" })

/** One occasion kind with its settings resolved. */
export interface OccasionKind extends OccasionKindDefinition {
  readonly name: OccasionKindName
}

/** Every kind with its default settings, by name. */
export const occasionKinds: Readonly<Record<OccasionKindName, OccasionKind>> = Record.map(
  definitions,
  (definition: OccasionKindDefinition, name): OccasionKind => ({ ...definition, name })
)

/** The names of all kinds, in definition order. */
export const occasionKindNames: ReadonlyArray<OccasionKindName> = OccasionKindName.literals
