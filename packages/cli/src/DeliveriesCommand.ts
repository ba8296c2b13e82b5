import { DeliveryDetail, LedgerState, ReplayResult } from "@birthday/domain"
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { withExamples } from "./CommandHelp.js"
import { instantOption, listDeliveries, pagingOptions, printDeliveries } from "./DeliveryListing.js"
import { renderDeliveryDetail } from "./DeliveryView.js"
import { printJson } from "./Output.js"

const keyArg = Args.text({ name: "key" }).pipe(Args.withDescription("Occurrence key, {kind}:{userId}:{year}"))

const listCommand = Command.make(
  "list",
  {
    ...connectionOptions,
    json: jsonOption,
    ...pagingOptions,
    state: Options.choice("state", LedgerState.literals).pipe(Options.optional),
    kind: Options.text("kind").pipe(Options.optional, Options.withDescription("birthday, anniversary, …")),
    user: Options.text("user").pipe(Options.optional, Options.withDescription("Only this user's id")),
    from: instantOption("from", "Due at or after this instant (ISO 8601)"),
    to: instantOption("to", "Due before this instant (ISO 8601)")
  },
  ({ all, cursor, from, json, kind, limit, state, to, token, url, user }) =>
    withApiClient({ token, url }, (client) =>
      listDeliveries(client, {
        state: Option.getOrUndefined(state),
        kind: Option.getOrUndefined(kind),
        userId: Option.getOrUndefined(user),
        from: Option.getOrUndefined(from),
        to: Option.getOrUndefined(to)
      }, { all, cursor, limit })).pipe(Effect.flatMap((page) => printDeliveries(page, json, "No deliveries match.")))
).pipe(Command.withDescription(withExamples("List occurrences in the delivery ledger by due time.", [
  "birthday deliveries list --state sent --kind birthday",
  "birthday deliveries list --user <id> --json",
  "birthday deliveries list --from 2027-01-01T00:00:00Z --to 2027-01-02T00:00:00Z --all"
])))

const showCommand = Command.make(
  "show",
  { ...connectionOptions, json: jsonOption, key: keyArg },
  ({ json, key, ...connection }) =>
    withApiClient(connection, (client) => client.deliveries.get({ path: { key } })).pipe(
      Effect.flatMap((detail) => json ? printJson(DeliveryDetail, detail) : Console.log(renderDeliveryDetail(detail)))
    )
).pipe(Command.withDescription(withExamples("Show one occurrence with its attempt history.", [
  "birthday deliveries show birthday:<userId>:2027",
  "birthday deliveries show <key> --json"
])))

const replayCommand = Command.make(
  "replay",
  { ...connectionOptions, json: jsonOption, key: keyArg },
  ({ json, key, ...connection }) =>
    withApiClient(connection, (client) => client.deliveries.replay({ path: { key } })).pipe(
      Effect.flatMap((result) =>
        json
          ? printJson(ReplayResult, result)
          : Console.log(`Replayed ${result.key}: now ${result.state} (replay ${result.replays})`)
      )
    )
).pipe(Command.withDescription(withExamples(
  "Re-enqueue a dead, ambiguous or expired occurrence; it is never sent twice.",
  ["birthday deliveries replay birthday:<userId>:2027"]
)))

/** `birthday deliveries …` */
export const deliveriesCommand = Command.make("deliveries").pipe(
  Command.withDescription("Inspect and replay deliveries: list, show, replay."),
  Command.withSubcommands([listCommand, showCommand, replayCommand])
)
