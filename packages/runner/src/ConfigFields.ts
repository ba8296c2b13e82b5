import { Config, Duration } from "effect"

/** A duration setting with its default and description. */
export const durationSetting = (name: string, fallback: Duration.DurationInput, description: string) =>
  Config.duration(name).pipe(Config.withDefault(Duration.decode(fallback)), Config.withDescription(description))

/** A positive integer setting with its default and description. */
export const positiveSetting = (name: string, fallback: number, description: string) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be > 0`, validation: (n) => n > 0 }),
    Config.withDescription(description)
  )
