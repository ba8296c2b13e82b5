import { Option, ParseResult, Schema } from "effect"

/**
 * ICU (and therefore `Intl`) still reports several zones by their pre-rename names. IANA's
 * canonical names are what we store, so these are translated after ICU resolves links.
 */
const icuLegacyToIana: Record<string, string> = {
  "Africa/Asmera": "Africa/Asmara",
  "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
  "America/Catamarca": "America/Argentina/Catamarca",
  "America/Coral_Harbour": "America/Atikokan",
  "America/Cordoba": "America/Argentina/Cordoba",
  "America/Godthab": "America/Nuuk",
  "America/Indianapolis": "America/Indiana/Indianapolis",
  "America/Jujuy": "America/Argentina/Jujuy",
  "America/Louisville": "America/Kentucky/Louisville",
  "America/Mendoza": "America/Argentina/Mendoza",
  "Asia/Calcutta": "Asia/Kolkata",
  "Asia/Katmandu": "Asia/Kathmandu",
  "Asia/Rangoon": "Asia/Yangon",
  "Asia/Saigon": "Asia/Ho_Chi_Minh",
  "Atlantic/Faeroe": "Atlantic/Faroe",
  "Europe/Kiev": "Europe/Kyiv",
  "Pacific/Enderbury": "Pacific/Kanton",
  "Pacific/Ponape": "Pacific/Pohnpei",
  "Pacific/Truk": "Pacific/Chuuk"
}

/** Three-letter ids that IANA defines; ICU also accepts Java's (PST, IST, …), which are ambiguous. */
const ianaThreeLetter = new Set([
  "EST",
  "MST",
  "HST",
  "UTC",
  "UCT",
  "GMT",
  "CET",
  "EET",
  "MET",
  "WET",
  "PRC",
  "ROC",
  "ROK"
])

const resolved = new Map<string, Option.Option<string>>()

/** The canonical IANA name of a zone or link (`Asia/Calcutta` → `Asia/Kolkata`), or none when unknown. */
export const canonicalTimeZone = (name: string): Option.Option<string> => {
  const cached = resolved.get(name)
  if (cached) return cached
  let result: Option.Option<string>
  // Offsets such as "+05:00" are accepted by newer ICU but are not IANA zone names.
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name) || (/^[A-Z]{3}$/.test(name) && !ianaThreeLetter.has(name))) {
    result = Option.none()
  } else {
    try {
      const icu = new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone
      result = Option.some(icuLegacyToIana[icu] ?? icu)
    } catch {
      result = Option.none()
    }
  }
  resolved.set(name, result)
  return result
}

/** Every canonical IANA zone this runtime knows, in the names we store. */
export const allTimeZones = (): ReadonlyArray<string> =>
  Intl.supportedValuesOf("timeZone").map((zone) => icuLegacyToIana[zone] ?? zone)

/** An IANA zone name; decoding canonicalises links. */
const TimeZoneName = Schema.String.pipe(Schema.brand("TimeZone"))

export const TimeZone = Schema.transformOrFail(
  Schema.String,
  TimeZoneName,
  {
    strict: true,
    decode: (input, _, ast) =>
      Option.match(canonicalTimeZone(input.trim()), {
        onNone: () =>
          ParseResult.fail(
            new ParseResult.Type(ast, input, "must be an IANA time zone name (e.g. Europe/Berlin)")
          ),
        onSome: (zone) => ParseResult.succeed(TimeZoneName.make(zone))
      }),
    encode: ParseResult.succeed
  }
).annotations({
  identifier: "TimeZone",
  description: "IANA time zone name; links are stored canonically (Asia/Calcutta → Asia/Kolkata)",
  examples: ["Europe/Berlin" as never]
})
export type TimeZone = typeof TimeZone.Type
