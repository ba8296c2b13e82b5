import { DeliveryPage } from "@birthday/domain/DeliveriesApi"
import type { LedgerState } from "@birthday/domain/LedgerState"
import { Console, type DateTime, Effect, Option } from "effect"
import type { ApiClient } from "./ApiClient.js"
import { deliveryColumns } from "./DeliveryView.js"
import { printJson, printTable } from "./Output.js"

/** The filters every delivery listing shares. */
export interface DeliveryFilter {
  readonly state?: LedgerState | undefined
  readonly kind?: string | undefined
  readonly userId?: string | undefined
  readonly from?: DateTime.Utc | undefined
  readonly to?: DateTime.Utc | undefined
}

/** Lists deliveries page by page (all pages with `all`), in due order. */
export const listDeliveries = (
  client: ApiClient,
  filter: DeliveryFilter,
  paging: { readonly limit: number; readonly cursor: Option.Option<string>; readonly all: boolean }
) =>
  Effect.gen(function*() {
    const items: Array<DeliveryPage["items"][number]> = []
    let cursor = Option.getOrUndefined(paging.cursor)
    do {
      const page = yield* client.deliveries.list({ urlParams: { ...filter, cursor, limit: paging.limit } })
      items.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (paging.all && cursor !== undefined)
    return DeliveryPage.make({ items, nextCursor: cursor ?? null })
  })

/** Prints a page as JSON or as a table with the next cursor. */
export const printDeliveries = (page: DeliveryPage, json: boolean, empty: string) =>
  json ? printJson(DeliveryPage, page) : printTable(deliveryColumns, page.items, empty).pipe(
    Effect.zipRight(page.nextCursor === null ? Effect.void : Console.log(`\nMore: --cursor ${page.nextCursor}`))
  )
