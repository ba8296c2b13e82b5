import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { exitCodeOf, runCli } from "./Cli.js"
import { Interactive } from "./ImportProgress.js"

// Module paths, not the package indexes, and only what @effect/cli and the commands use (no
// command executor, no workers), with Node's own fetch as the HTTP client: less code to load at
// every start.
runCli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer, FetchHttpClient.layer)),
  Effect.provideService(Interactive, process.stderr.isTTY === true),
  (program) =>
    NodeRuntime.runMain(program, {
      disableErrorReporting: true,
      teardown: (exit, onExit) => onExit(exitCodeOf(exit))
    })
)
