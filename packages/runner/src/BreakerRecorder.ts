import { breakerRecordSeconds } from "@birthday/domain"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Layer, Option, Schedule } from "effect"
import { CircuitBreaker } from "./CircuitBreaker.js"
import { DeliverySettings } from "./DeliveryConfig.js"
import { RunnerSettings } from "./RunnerConfig.js"

const stateName = { Closed: "closed", Open: "open", HalfOpen: "half-open" } as const

/**
 * Records this runner's circuit breaker in `provider_breakers` (state and since when), rewriting
 * the row every `breakerRecordSeconds`, so operators see it in `GET /cluster` and `birthday
 * cluster status` without scraping every runner's `/metrics`. The row is keyed by the runner's
 * cluster address (`RUNNER_ID` when the workers run outside a cluster runner, as in tests).
 */
export const BreakerRecorderLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const breaker = yield* CircuitBreaker
    const settings = yield* DeliverySettings
    const runner = Option.match(yield* Effect.serviceOption(RunnerSettings), {
      onNone: () => settings.runnerId,
      onSome: RunnerSettings.address
    })
    let last: { readonly state: string; readonly since: Date } | undefined = undefined
    const record = Effect.gen(function*() {
      const state = stateName[yield* breaker.state]
      const now = new Date(yield* Clock.currentTimeMillis)
      if (last?.state !== state) last = { state, since: now }
      yield* sql`
        INSERT INTO provider_breakers (runner, provider, state, since, updated_at)
        VALUES (${runner}, ${settings.providerName}, ${state}, ${last.since}, ${now})
        ON CONFLICT (runner, provider) DO UPDATE SET
          state = EXCLUDED.state, since = EXCLUDED.since, updated_at = EXCLUDED.updated_at`
    }).pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning("Recording the breaker state failed", cause)),
      Effect.ignore,
      Effect.withSpan("BreakerRecorder.record"),
      maintenanceRound
    )
    yield* Effect.forkScoped(Effect.repeat(record, Schedule.spaced(Duration.seconds(breakerRecordSeconds))))
  })
)
