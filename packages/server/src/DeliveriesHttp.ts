import { BirthdayApi, BulkReplayRequest, BulkReplayResult, Caller } from "@birthday/domain"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import { DeliveryHistory } from "./DeliveryHistory.js"
import { DeliveryReplay } from "./DeliveryReplay.js"
import { readJsonBody } from "./RequestBody.js"
import { ServerSettings } from "./ServerSettings.js"
import { strictDecoder } from "./StrictDecoder.js"

const decodeBulk = strictDecoder(BulkReplayRequest)
const encodeBulkResult = Schema.encode(BulkReplayResult)

/**
 * Handlers of the deliveries group. The bulk replay body goes through the shared JSON reader (its
 * size cap and nesting limit), not the framework decoder, which also took form, multipart and
 * text bodies of any size and could wait forever on a multipart body.
 */
export const DeliveriesHttpLive = HttpApiBuilder.group(BirthdayApi, "deliveries", (handlers) =>
  Effect.gen(function*() {
    const history = yield* DeliveryHistory
    const replay = yield* DeliveryReplay
    const { maxBodyBytes } = yield* ServerSettings
    return handlers
      .handle("list", ({ urlParams }) => history.list(urlParams))
      .handle("get", ({ path }) => history.get(path.key))
      .handle("replay", ({ path }) => Effect.flatMap(Caller, (caller) => replay.replayOne(path.key, caller.name)))
      .handleRaw("replayBulk", ({ request }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const body = yield* readJsonBody(request, maxBodyBytes)
          const decoded = decodeBulk(body)
          if (Either.isLeft(decoded)) return yield* Effect.fail(decoded.left)
          const result = yield* replay.replayBulk(decoded.right, caller.name)
          // 202: the replay is recorded and its sends follow; a dry run changed nothing.
          return yield* HttpServerResponse.json(yield* encodeBulkResult(result).pipe(Effect.orDie), {
            status: result.dryRun ? 200 : 202
          }).pipe(Effect.orDie)
        }))
  }))
