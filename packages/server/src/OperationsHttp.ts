import { BirthdayApi } from "@birthday/domain"
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Layer } from "effect"
import { ClusterInspector } from "./ClusterInspector.js"
import { LedgerStatistics } from "./LedgerStatistics.js"

/** Handlers of the operations group: `GET /cluster` and `GET /stats`. */
export const OperationsHttpLive = HttpApiBuilder.group(BirthdayApi, "operations", (handlers) =>
  Effect.gen(function*() {
    const cluster = yield* ClusterInspector
    const stats = yield* LedgerStatistics
    return handlers.handle("cluster", () => cluster.status).handle("stats", () => stats.snapshot)
  })).pipe(Layer.provide([ClusterInspector.Default, LedgerStatistics.Default]))
