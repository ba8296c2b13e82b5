import { Config, ConfigError, Context, Either, Layer, Record } from "effect"
import {
  type LocalTime,
  type OccasionKind,
  type OccasionKindName,
  occasionKindNames,
  occasionKinds,
  type OccasionKindSettings
} from "./OccasionKind.js"

/** The default settings of every kind, as written on the kind definitions. */
export const occasionDefaults: Readonly<Record<OccasionKindName, OccasionKindSettings>> = Record.map(
  occasionKinds,
  ({ feb29, lateWindow, sendTime }): OccasionKindSettings => ({ sendTime, lateWindow, feb29 })
)

const hhmm = /^([01]\d|2[0-3]):([0-5]\d)$/

/** Parses a 24-hour `HH:MM` time of day. */
export const parseLocalTime = (value: string): Either.Either<LocalTime, string> => {
  const match = hhmm.exec(value.trim())
  return match
    ? Either.right({ hour: Number(match[1]), minute: Number(match[2]) })
    : Either.left(`expected a 24-hour time of day as HH:MM (e.g. 09:00), got "${value}"`)
}

/** Formats a time of day as `HH:MM`. */
export const formatLocalTime = ({ hour, minute }: LocalTime): string =>
  `${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`

const localTime = (name: string): Config.Config<LocalTime> =>
  Config.string(name).pipe(
    Config.mapOrFail((value) =>
      Either.mapLeft(parseLocalTime(value), (message) => ConfigError.InvalidData([], message))
    )
  )

/** The settings of one kind, read from `{KIND}_SEND_TIME`, `{KIND}_LATE_WINDOW` and `{KIND}_FEB29`. */
const kindSettings = (name: OccasionKindName): Config.Config<OccasionKindSettings> => {
  const prefix = name.toUpperCase()
  const fallback = occasionDefaults[name]
  return Config.all({
    sendTime: localTime(`${prefix}_SEND_TIME`).pipe(
      Config.withDefault(fallback.sendTime),
      Config.withDescription(`Local time of day (HH:MM, 24-hour) at which ${name} greetings are due`)
    ),
    lateWindow: Config.duration(`${prefix}_LATE_WINDOW`).pipe(
      Config.withDefault(fallback.lateWindow),
      Config.withDescription(`How late a missed ${name} greeting is still sent (e.g. "48 hours"); older ones expire`)
    ),
    feb29: Config.literal("feb28", "mar1")(`${prefix}_FEB29`).pipe(
      Config.withDefault(fallback.feb29),
      Config.withDescription(`Where a Feb 29 ${name} falls in non-leap years: feb28 or mar1`)
    )
  })
}

/** The occasion kinds with their settings resolved, by name and in definition order. */
export interface OccasionKinds {
  readonly all: ReadonlyArray<OccasionKind>
  readonly byName: Readonly<Record<OccasionKindName, OccasionKind>>
}

const resolve = (settings: Readonly<Record<OccasionKindName, OccasionKindSettings>>): OccasionKinds => {
  const byName = Record.map(occasionKinds, (kind, name): OccasionKind => ({ ...kind, ...settings[name] }))
  return { byName, all: occasionKindNames.map((name) => byName[name]) }
}

/** Every kind's settings from configuration; a pure description, read when a layer is built. */
export const occasionKindsConfig: Config.Config<OccasionKinds> = Config.all(
  Record.map(occasionKinds, (_, name) => kindSettings(name))
).pipe(Config.map(resolve))

/** Per-kind setting overrides, for tests and tools. */
export type OccasionSettingsOverrides = {
  readonly [K in OccasionKindName]?: Partial<OccasionKindSettings>
}

/** The kinds with `occasionDefaults` overridden; what `OccasionSettings.layerWith` provides. */
export const occasionKindsWith = (overrides: OccasionSettingsOverrides): OccasionKinds =>
  resolve(Record.map(occasionDefaults, (settings, name) => ({ ...settings, ...overrides[name] })))

/** The occasion kinds with the settings this deployment runs with. */
export class OccasionSettings extends Context.Tag("@birthday/domain/OccasionSettings")<
  OccasionSettings,
  OccasionKinds
>() {
  /** Settings from configuration, falling back to `occasionDefaults` (the one defaults object). */
  static readonly layer: Layer.Layer<OccasionSettings, ConfigError.ConfigError> = Layer.effect(
    OccasionSettings,
    occasionKindsConfig
  )

  /** The occasionDefaults with some settings replaced, without reading configuration. */
  static readonly layerWith = (overrides: OccasionSettingsOverrides = {}): Layer.Layer<OccasionSettings> =>
    Layer.succeed(OccasionSettings, occasionKindsWith(overrides))
}
