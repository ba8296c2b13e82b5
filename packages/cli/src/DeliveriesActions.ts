import { DeliveryDetail, ReplayResult } from "@birthday/domain/DeliveriesApi"
import { Console, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import type { ParsedArgs } from "./CommandActions.js"
import type { deliveryOptions } from "./DeliveriesCommand.js"
import { listDeliveries, printDeliveries } from "./DeliveryListing.js"
import { renderDeliveryDetail } from "./DeliveryView.js"
import { printJson } from "./Output.js"

/** `birthday deliveries list` */
export const listLedger = (
  { all, cursor, from, json, kind, limit, state, to, token, url, user }: ParsedArgs<typeof deliveryOptions.list>
) =>
  withApiClient({ token, url }, (client) =>
    listDeliveries(client, {
      state: Option.getOrUndefined(state),
      kind: Option.getOrUndefined(kind),
      userId: Option.getOrUndefined(user),
      from: Option.getOrUndefined(from),
      to: Option.getOrUndefined(to)
    }, { all, cursor, limit })).pipe(Effect.flatMap((page) => printDeliveries(page, json, "No deliveries match.")))

/** `birthday deliveries show` */
export const showDelivery = ({ json, key, ...connection }: ParsedArgs<typeof deliveryOptions.show>) =>
  withApiClient(connection, (client) => client.deliveries.get({ path: { key } })).pipe(
    Effect.flatMap((detail) => json ? printJson(DeliveryDetail, detail) : Console.log(renderDeliveryDetail(detail)))
  )

/** `birthday deliveries replay` */
export const replayDelivery = ({ json, key, ...connection }: ParsedArgs<typeof deliveryOptions.show>) =>
  withApiClient(connection, (client) => client.deliveries.replay({ path: { key } })).pipe(
    Effect.flatMap((result) =>
      json
        ? printJson(ReplayResult, result)
        : Console.log(
          `Replayed ${result.key}: now ${result.state} (replay ${result.replays})` +
            (result.published ? "" : "; the queue is unavailable, the retry sweeper will publish it")
        )
    )
  )
