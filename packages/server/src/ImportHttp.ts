import { BirthdayApi, bulkImportLimits, BulkImportResult, Caller } from "@birthday/domain"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Layer, Schema } from "effect"
import { readJsonBody } from "./RequestBody.js"
import { UserImport } from "./UserImport.js"

const encodeResult = Schema.encode(BulkImportResult)

/** Handlers of the imports group; the body is read raw under the bulk endpoint's own size cap. */
export const ImportHttpLive = HttpApiBuilder.group(BirthdayApi, "imports", (handlers) =>
  Effect.gen(function*() {
    const imports = yield* UserImport
    return handlers.handleRaw("bulk", ({ request }) =>
      Effect.gen(function*() {
        const caller = yield* Caller
        const body = yield* readJsonBody(request, bulkImportLimits.maxBodyBytes)
        const result = yield* imports.importBatch(body, caller.name)
        return yield* HttpServerResponse.json(yield* encodeResult(result).pipe(Effect.orDie)).pipe(Effect.orDie)
      }))
  })).pipe(Layer.provide(UserImport.Default))
