import { BirthdayApi } from "@birthday/domain"
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { DeliveryHistory } from "./DeliveryHistory.js"
import { DeliveryReplay } from "./DeliveryReplay.js"

/** Handlers of the deliveries group. */
export const DeliveriesHttpLive = HttpApiBuilder.group(BirthdayApi, "deliveries", (handlers) =>
  Effect.gen(function*() {
    const history = yield* DeliveryHistory
    const replay = yield* DeliveryReplay
    return handlers
      .handle("list", ({ urlParams }) => history.list(urlParams))
      .handle("get", ({ path }) => history.get(path.key))
      .handle("replay", ({ path }) => replay.replayOne(path.key))
      .handle("replayBulk", ({ payload }) => replay.replayBulk(payload))
  }))
