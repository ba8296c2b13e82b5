import { Clock, DateTime, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import type { ParsedArgs } from "./CommandActions.js"
import { listDeliveries, printDeliveries } from "./DeliveryListing.js"
import type { upcomingOptions } from "./OccurrencesCommand.js"

/** `birthday occurrences upcoming`: pending greetings due in the next hours, across all users. */
export const listUpcoming = (
  { all, cursor, hours, json, kind, limit, token, url }: ParsedArgs<typeof upcomingOptions>
) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const page = yield* withApiClient({ token, url }, (client) =>
      listDeliveries(client, {
        state: "pending",
        kind: Option.getOrUndefined(kind),
        from: DateTime.unsafeMake(now),
        to: DateTime.unsafeMake(now + hours * 3_600_000)
      }, { all, cursor, limit }))
    yield* printDeliveries(page, json, `Nothing is due in the next ${hours} hour(s).`)
  })
