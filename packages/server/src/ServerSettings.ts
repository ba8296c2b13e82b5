import { Context, Effect, Layer } from "effect"
import { ServerConfig } from "./ServerConfig.js"

/** The resolved `ServerConfig`, read once at start and shared by the HTTP layers. */
export class ServerSettings extends Context.Tag("@birthday/server/ServerSettings")<ServerSettings, ServerConfig>() {
  static readonly layer = Layer.effect(ServerSettings, Effect.orDie(ServerConfig))
}
