import { pgLayer } from "@birthday/ledger/Database"
import { DatabaseUrl } from "@birthday/ledger/LedgerConfig"
import { Config, Duration, Effect, Layer, Redacted } from "effect"
import { durationSetting, positiveSetting } from "./ConfigFields.js"
import { RunnerSettings } from "./RunnerConfig.js"

/**
 * How soon Postgres gives up on a runner whose host vanished. A runner's slices are Postgres
 * advisory locks held by one of its sessions: Postgres releases them only when that session ends,
 * and a host that is powered off or partitioned closes nothing, so with Linux defaults the session
 * (and every slice it holds) would stay for about two hours of TCP keepalive. These per-session
 * settings (sent as startup options, no server change needed) make the server probe an idle
 * connection after `idle`, every `interval`, drop it after `count` unanswered probes, and drop a
 * connection whose sent data stays unacknowledged for `userTimeout` (TCP_USER_TIMEOUT, which also
 * caps the probing). Together they bound a dead runner's lock retention to about `userTimeout`.
 */
export const PgSessionLivenessConfig = Config.all({
  idle: durationSetting("PG_KEEPALIVE_IDLE", "2 seconds", "Idle time before Postgres probes a runner connection"),
  interval: durationSetting("PG_KEEPALIVE_INTERVAL", "1 second", "Time between keepalive probes"),
  count: positiveSetting("PG_KEEPALIVE_COUNT", 3, "Unanswered probes before Postgres drops the connection"),
  userTimeout: durationSetting(
    "PG_TCP_USER_TIMEOUT",
    "5 seconds",
    "Unacknowledged data (or probes) for this long ends the session and frees its slices"
  )
})
export type PgSessionLiveness = Config.Config.Success<typeof PgSessionLivenessConfig>

const seconds = (duration: Duration.Duration) => Math.max(1, Math.round(Duration.toSeconds(duration)))

/** The startup `options` that carry the settings (`-c name=value …`). */
export const sessionOptions = (liveness: PgSessionLiveness): string =>
  [
    `tcp_keepalives_idle=${seconds(liveness.idle)}`,
    `tcp_keepalives_interval=${seconds(liveness.interval)}`,
    `tcp_keepalives_count=${liveness.count}`,
    `tcp_user_timeout=${Math.round(Duration.toMillis(liveness.userTimeout))}`
  ].map((setting) => `-c ${setting}`).join(" ")

/**
 * `url` with the liveness options added to any it had, and the sessions named after the runner
 * (`application_name`), so `pg_stat_activity` and `pg_locks` show whose locks are whose.
 */
export const withSessionLiveness = (url: string, liveness: PgSessionLiveness, runner: string): string => {
  const parsed = new URL(url)
  const existing = parsed.searchParams.get("options")
  parsed.searchParams.set("options", existing ? `${existing} ${sessionOptions(liveness)}` : sessionOptions(liveness))
  if (!parsed.searchParams.has("application_name")) {
    parsed.searchParams.set("application_name", `birthday-runner ${runner}`)
  }
  return parsed.toString()
}

/** The runner's Postgres pool from `DATABASE_URL`, with the liveness settings on every session. */
export const RunnerPgLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const url = yield* DatabaseUrl
    const liveness = yield* PgSessionLivenessConfig
    const settings = yield* RunnerSettings
    return pgLayer(Redacted.make(withSessionLiveness(Redacted.value(url), liveness, RunnerSettings.address(settings))))
  })
).pipe(Layer.orDie)
