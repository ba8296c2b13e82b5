import { IdempotencyKeyReused } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Option } from "effect"
import { createHash } from "node:crypto"

/** JSON with sorted keys, so that two equal bodies hash alike whatever their key order. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v)

/** The fingerprint of a request body. */
export const requestHash = (body: unknown): string => createHash("sha256").update(canonicalJson(body)).digest("hex")

/**
 * Remembers the response to each `(caller, Idempotency-Key)`. `claim` runs inside the write's
 * transaction: the key's primary key makes a concurrent retry wait for the first attempt and
 * then replay its response; a failed attempt rolls the key back with everything else.
 */
export class IdempotencyStore extends Effect.Service<IdempotencyStore>()("@birthday/server/IdempotencyStore", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Claims the key, or returns the stored response of an earlier attempt with the same body. */
    const claim = Effect.fn("IdempotencyStore.claim")(function*(caller: string, key: string, hash: string) {
      const now = new Date(yield* Clock.currentTimeMillis)
      const claimed = yield* sql`
        INSERT INTO idempotency_keys (caller, key, request_hash, status, response, created_at)
        VALUES (${caller}, ${key}, ${hash}, 0, '{}'::jsonb, ${now})
        ON CONFLICT DO NOTHING RETURNING key`
      if (claimed.length > 0) return Option.none<unknown>()
      const rows = yield* sql<{ request_hash: string; response: unknown }>`
        SELECT request_hash, response FROM idempotency_keys WHERE caller = ${caller} AND key = ${key}`
      const stored = rows[0]!
      if (stored.request_hash !== hash) {
        return yield* new IdempotencyKeyReused({
          key,
          message: `Idempotency-Key ${key} was already used with a different request body`
        })
      }
      return Option.some(stored.response)
    })

    /** Stores the response of the attempt that claimed the key. */
    const complete = Effect.fn("IdempotencyStore.complete")(
      function*(caller: string, key: string, status: number, response: unknown) {
        yield* sql`
          UPDATE idempotency_keys SET status = ${status}, response = ${JSON.stringify(response)}::jsonb
          WHERE caller = ${caller} AND key = ${key}`
      }
    )

    return { claim, complete } as const
  })
}) {}
