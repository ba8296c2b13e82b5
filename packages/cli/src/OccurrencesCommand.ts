import { Command, Options } from "@effect/cli"
import { Clock, DateTime, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { withExamples } from "./CommandHelp.js"
import { listDeliveries, pagingOptions, printDeliveries } from "./DeliveryListing.js"

/** `birthday occurrences upcoming`: pending greetings due in the next hours, across all users. */
const upcomingCommand = Command.make(
  "upcoming",
  {
    ...connectionOptions,
    json: jsonOption,
    ...pagingOptions,
    hours: Options.integer("hours").pipe(Options.withDefault(24), Options.withDescription("How far ahead to look")),
    kind: Options.text("kind").pipe(Options.optional, Options.withDescription("Only this kind"))
  },
  ({ all, cursor, hours, json, kind, limit, token, url }) =>
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
).pipe(Command.withDescription(withExamples("Greetings due in the next N hours across all users, by due time.", [
  "birthday occurrences upcoming",
  "birthday occurrences upcoming --hours 2 --kind birthday --json"
])))

/** `birthday occurrences …` */
export const occurrencesCommand = Command.make("occurrences").pipe(
  Command.withDescription("Upcoming greetings."),
  Command.withSubcommands([upcomingCommand])
)
