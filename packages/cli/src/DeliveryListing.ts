import { DeliveryPage, type LedgerState } from "@birthday/domain"
import { Options } from "@effect/cli"
import { Console, DateTime, Effect, Option } from "effect"
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

/** `--from` / `--to` as instants (ISO 8601, e.g. 2027-01-01T00:00:00Z). */
export const instantOption = (name: string, description: string) =>
  Options.date(name).pipe(
    Options.map((date) => DateTime.unsafeFromDate(date)),
    Options.optional,
    Options.withDescription(description)
  )

/** `--limit`, `--cursor` and `--all`, as on `users list`. */
export const pagingOptions = {
  limit: Options.integer("limit").pipe(Options.withDefault(100), Options.withDescription("Page size, 1–500")),
  cursor: Options.text("cursor").pipe(Options.optional, Options.withDescription("Cursor of the page to show")),
  all: Options.boolean("all").pipe(Options.withDescription("Follow cursors and list everything that matches"))
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
