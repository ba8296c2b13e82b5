import { BirthdayApi } from "@birthday/domain"
import { HttpApiBuilder } from "@effect/platform"
import { Duration, Effect, Layer } from "effect"
import { LedgerCheck } from "./LedgerCheck.js"

/** Handlers of the ledger group: `GET /ledger/check`. */
export const LedgerHttpLive = HttpApiBuilder.group(BirthdayApi, "ledger", (handlers) =>
  Effect.gen(function*() {
    const check = yield* LedgerCheck
    return handlers.handle("check", ({ urlParams }) =>
      check.run({
        ...(urlParams.limit === undefined ? {} : { sampleLimit: urlParams.limit }),
        ...(urlParams.deadlineGraceSeconds === undefined
          ? {}
          : { deadlineGrace: Duration.seconds(urlParams.deadlineGraceSeconds) }),
        ...(urlParams.sendingGraceSeconds === undefined
          ? {}
          : { sendingGrace: Duration.seconds(urlParams.sendingGraceSeconds) })
      }))
  })).pipe(Layer.provide(LedgerCheck.Default))
