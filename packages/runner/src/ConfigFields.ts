import { Config, Duration } from "effect"

/** A duration setting with its default and description. */
export const durationSetting = (name: string, fallback: Duration.DurationInput, description: string) =>
  Config.duration(name).pipe(Config.withDefault(Duration.decode(fallback)), Config.withDescription(description))

/**
 * A positive integer setting with its default and description. Validated before the default is
 * attached: the other order loses the setting's name from the error ("invalid setting : …").
 */
export const positiveSetting = (name: string, fallback: number, description: string) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a whole number above 0", validation: (n) => n > 0 }),
    Config.withDefault(fallback),
    Config.withDescription(description)
  )
