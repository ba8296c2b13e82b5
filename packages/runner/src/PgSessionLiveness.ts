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

/**
 * The pool the cluster keeps its shard locks on, apart from the runner's own: its sessions also
 * carry `idle_session_timeout = shardLockExpiration`. TCP liveness frees the locks of a host that
 * vanished, but not those of a runner whose process stopped while its host lives on (SIGSTOP, a
 * hung event loop): the kernel still answers keepalives, so the session and every slice it locks
 * would stay for as long as the process is stopped. A live runner uses its lock session every
 * `shardLockExpiration / 3` (the cluster refreshes its locks on it even when it holds none), so
 * only a stopped one goes idle that long; Postgres then ends the session and its locks go with it,
 * about when the others stop counting the runner (its heartbeat is as old). The pool closes its
 * own idle connections first (after half that), so the server ends only a lock session.
 */
export const ShardLockPgLive = Layer.unwrapEffect(
  Effect.map(RunnerSettings, (settings) => {
    const idleMs = Math.max(1_000, Math.round(Duration.toMillis(settings.shardLockExpiration)))
    return runnerPool(`-c idle_session_timeout=${idleMs}`, {
      maxConnections: 4,
      idleTimeout: Duration.millis(idleMs / 2)
    })
  })
).pipe(Layer.orDie)

/**
 * A pool on `DATABASE_URL` whose sessions carry the liveness settings, `extraOptions` (more
 * `-c name=value` startup options) and the runner's name.
 */
const runnerPool = (extraOptions: string, poolOptions: Parameters<typeof pgLayer>[1] = {}) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const url = yield* DatabaseUrl
      const liveness = yield* PgSessionLivenessConfig
      const settings = yield* RunnerSettings
      const withLiveness = new URL(withSessionLiveness(Redacted.value(url), liveness, RunnerSettings.address(settings)))
      if (extraOptions !== "") {
        withLiveness.searchParams.set("options", `${withLiveness.searchParams.get("options")} ${extraOptions}`)
      }
      return pgLayer(Redacted.make(withLiveness.toString()), poolOptions)
    })
  )

/** The runner's Postgres pool from `DATABASE_URL`, with the liveness settings on every session. */
export const RunnerPgLive = runnerPool("").pipe(Layer.orDie)
