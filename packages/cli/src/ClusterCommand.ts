import * as Command from "@effect/cli/Command"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"

const actions = commandActions(() => import("./ClusterActions.js"))

/** `birthday cluster status` */
export const clusterCommand = Command.make("cluster").pipe(
  Command.withDescription("Inspect the runner cluster."),
  Command.withSubcommands([
    Command.make(
      "status",
      { ...connectionOptions, json: jsonOption },
      (args) => actions((cluster) => cluster.showClusterStatus(args))
    ).pipe(Command.withDescription(withExamples(
      "Runners, the slices each holds, resident occurrence counts and the delivery breaker.",
      ["birthday cluster status", "birthday cluster status --json | jq '.runners[].slices | length'"]
    )))
  ])
)
