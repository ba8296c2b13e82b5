/**
 * Why a process could not start, in one line a person can act on: what is wrong, the setting
 * that decides it and the fix. Every role's entry point prints this instead of an Effect stack
 * (the full cause only with `LOG_LEVEL=debug`).
 */
import { Cause, Config, ConfigError, Console, Effect, Option, Predicate, Schema } from "effect"

/** A start-up failure that names the setting to change and how. */
export class StartupFailure extends Schema.TaggedError<StartupFailure>()("StartupFailure", {
  problem: Schema.String,
  setting: Schema.String,
  fix: Schema.String
}) {
  override get message(): string {
    return `${this.problem} (${this.setting}): ${this.fix}`
  }
}

/** A setting that holds a listening port, so a taken port can be named. */
export interface PortSetting {
  readonly setting: string
  readonly port: number
  /** The address it is bound on (all addresses when absent). */
  readonly host?: string | undefined
}

interface SystemError {
  readonly code: string
  readonly port?: number
  readonly address?: string
  readonly message: string
}

const isSystemError = (value: unknown): value is SystemError =>
  Predicate.hasProperty(value, "code") && typeof value.code === "string" && Predicate.hasProperty(value, "message")

/** The value, its `cause`, its cause's cause…, and the members of an AggregateError. */
const chain = (value: unknown): Array<unknown> => {
  const seen: Array<unknown> = []
  const visit = (item: unknown) => {
    if (item === undefined || item === null || seen.includes(item) || seen.length > 20) return
    seen.push(item)
    if (item instanceof AggregateError) item.errors.forEach(visit)
    if (Predicate.hasProperty(item, "cause")) visit(item.cause)
    if (Predicate.hasProperty(item, "error")) visit(item.error)
  }
  visit(value)
  return seen
}

interface ConfigProblem {
  readonly missing: boolean
  readonly line: string
}

/**
 * The first problem of a config error, a wrong value before a missing one: a setting read with a
 * fallback name (RUNNER_METRICS_PORT, else METRICS_PORT) reports both, and the one set wrong is
 * the one to name.
 */
const configLine = (error: ConfigError.ConfigError): string => {
  const pick = (left: ConfigProblem | undefined, right: ConfigProblem | undefined) =>
    left === undefined || (left.missing && right !== undefined && !right.missing) ? right : left
  const first = ConfigError.reduceWithContext<undefined, ConfigProblem | undefined>(error, undefined, {
    andCase: (_, left, right) => pick(left, right),
    orCase: (_, left, right) => pick(left, right),
    invalidDataCase: (_, path, message) => ({ missing: false, line: `invalid setting ${path.join("_")}: ${message}` }),
    missingDataCase: (_, path, message) => ({ missing: true, line: `missing setting ${path.join("_")}: ${message}` }),
    sourceUnavailableCase: (_, path, message) => ({
      missing: false,
      line: `cannot read setting ${path.join("_")}: ${message}`
    }),
    unsupportedCase: (_, path, message) => ({
      missing: false,
      line: `unsupported setting ${path.join("_")}: ${message}`
    })
  })
  return `${first?.line ?? String(error)}; fix it or unset it for the default`
}

/**
 * One line for a failed start: a `StartupFailure` as it is, a bad setting by name, a taken port
 * by the setting that holds it; otherwise the first error's message.
 */
export const describeStartupFailure = (
  cause: Cause.Cause<unknown>,
  ports: ReadonlyArray<PortSetting> = []
): string => {
  const errors = [...Cause.failures(cause), ...Cause.defects(cause)].flatMap(chain)
  const startup = errors.find((error): error is StartupFailure => error instanceof StartupFailure)
  if (startup) return startup.message
  const config = errors.find(ConfigError.isConfigError)
  if (config) return configLine(config)
  const taken = errors.find((error): error is SystemError =>
    (isSystemError(error) && error.code === "EADDRINUSE") ||
    (Predicate.hasProperty(error, "port") && String((error as { message?: unknown }).message).includes("EADDRINUSE"))
  )
  if (taken) {
    const known = ports.find((entry) => entry.port === taken.port)
    const where = `${taken.address ?? "127.0.0.1"}:${taken.port ?? "?"}`
    return known
      ? `port ${where} is taken (${known.setting}): stop what listens there or set ${known.setting} to a free port`
      : `address ${where} is taken: stop what listens there or choose another port`
  }
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const first = Option.getOrUndefined(Cause.failureOption(cause)) ?? errors[0]
  return first instanceof Error ? first.message : Cause.pretty(cause).split("\n")[0]!
}

const verbose = Config.string("LOG_LEVEL").pipe(
  Config.withDefault("info"),
  Config.map((level) => ["debug", "trace", "all"].includes(level.toLowerCase())),
  Config.orElse(() => Config.succeed(false))
)

/** Prints `cause` as one line prefixed by the role (and in full when asked), then fails with it. */
export const reportStartupFailure =
  <R>(role: string, ports: Effect.Effect<ReadonlyArray<PortSetting>, unknown, R>) =>
  <A, E, R2>(program: Effect.Effect<A, E, R2>) =>
    Effect.catchAllCause(
      program,
      (cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.gen(function*() {
          const known = yield* Effect.orElseSucceed(ports, (): ReadonlyArray<PortSetting> => [])
          yield* Console.error(`${role}: ${describeStartupFailure(cause, known)}`)
          if (yield* Effect.orElseSucceed(verbose, () => false)) yield* Console.error(Cause.pretty(cause))
          return yield* Effect.failCause(cause)
        })
    )
