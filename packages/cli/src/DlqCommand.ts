import { BulkReplayResult } from "@birthday/domain"
import { Command, Options } from "@effect/cli"
import { Clock, Console, DateTime, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { withExamples } from "./CommandHelp.js"
import { instantOption, listDeliveries, pagingOptions, printDeliveries } from "./DeliveryListing.js"
import { printJson } from "./Output.js"

const kindOption = Options.text("kind").pipe(Options.optional, Options.withDescription("Only this kind"))

const listCommand = Command.make(
  "list",
  {
    ...connectionOptions,
    json: jsonOption,
    ...pagingOptions,
    kind: kindOption,
    from: instantOption("from", "Due at or after this instant (ISO 8601)"),
    to: instantOption("to", "Due before this instant (ISO 8601)")
  },
  ({ all, cursor, from, json, kind, limit, to, token, url }) =>
    withApiClient({ token, url }, (client) =>
      listDeliveries(client, {
        state: "dead",
        kind: Option.getOrUndefined(kind),
        from: Option.getOrUndefined(from),
        to: Option.getOrUndefined(to)
      }, { all, cursor, limit })).pipe(
        Effect.flatMap((page) => printDeliveries(page, json, "The dead-letter list is empty."))
      )
).pipe(
  Command.withDescription(
    withExamples("List dead occurrences (attempts or deadline exhausted) with their last error.", [
      "birthday dlq list",
      "birthday dlq list --kind birthday --json"
    ])
  )
)

const replayCommand = Command.make(
  "replay",
  {
    ...connectionOptions,
    json: jsonOption,
    kind: kindOption,
    from: instantOption("from", "Due at or after this instant (default: the beginning)"),
    to: instantOption("to", "Due before this instant (default: now)"),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Only count what would be replayed"))
  },
  ({ dryRun, from, json, kind, to, token, url }) =>
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
            : `Replayed ${result.replayed} of ${result.matched} dead occurrence(s)`
        )
    })
).pipe(Command.withDescription(withExamples(
  "Re-enqueue dead occurrences in bulk, by kind and due range; none is ever sent twice.",
  ["birthday dlq replay --dry-run", "birthday dlq replay --kind birthday --from 2027-03-01T00:00:00Z"]
)))

/** `birthday dlq …` */
export const dlqCommand = Command.make("dlq").pipe(
  Command.withDescription("The dead-letter list: list, replay."),
  Command.withSubcommands([listCommand, replayCommand])
)
