import { BulkReplayResult } from "@birthday/domain/DeliveriesApi"
import { Clock, Console, DateTime, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import type { ParsedArgs } from "./CommandActions.js"
import { listDeliveries, printDeliveries } from "./DeliveryListing.js"
import type { dlqOptions } from "./DlqCommand.js"
import { printJson } from "./Output.js"

/** `birthday dlq list` */
export const listDead = (
  { all, cursor, from, json, kind, limit, to, token, url }: ParsedArgs<typeof dlqOptions.list>
) =>
  withApiClient({ token, url }, (client) =>
    listDeliveries(client, {
      state: "dead",
      kind: Option.getOrUndefined(kind),
      from: Option.getOrUndefined(from),
      to: Option.getOrUndefined(to)
    }, { all, cursor, limit })).pipe(
      Effect.flatMap((page) => printDeliveries(page, json, "The dead-letter list is empty."))
    )

/** `birthday dlq replay`: from the beginning to now unless a range is given. */
export const replayDead = ({ dryRun, from, json, kind, to, token, url }: ParsedArgs<typeof dlqOptions.replay>) =>
  Effect.gen(function*() {
    const now = DateTime.unsafeMake(yield* Clock.currentTimeMillis)
    const result = yield* withApiClient({ token, url }, (client) =>
      client.deliveries.replayBulk({
        payload: {
          kind: Option.getOrUndefined(kind),
          from: Option.getOrElse(from, () => DateTime.unsafeMake(0)),
          to: Option.getOrElse(to, () => now),
          states: ["dead"],
          dryRun
        }
      }))
    yield* json
      ? printJson(BulkReplayResult, result)
      : Console.log(
        result.dryRun
          ? `${result.matched} dead occurrence(s) would be replayed (dry run)`
          : `Replayed ${result.replayed} of ${result.matched} dead occurrence(s)` + (result.published < result.replayed
            ? `; ${result.replayed - result.published} wait for the retry sweeper (the queue is unavailable)`
            : "")
      )
  })
