import * as Command from "@effect/cli/Command"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"

const actions = commandActions(() => import("./StatsActions.js"))

/** `birthday stats` */
export const statsCommand = Command.make(
  "stats",
  { ...connectionOptions, json: jsonOption },
  (args) => actions((stats) => stats.showStats(args))
).pipe(Command.withDescription(withExamples(
  "Occurrences per ledger state, lateness p50/p99 over the last hour, and the backlog of due greetings.",
  ["birthday stats", "birthday stats --json | jq .pendingBacklog"]
)))
