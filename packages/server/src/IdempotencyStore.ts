import { FieldIssue, IdempotencyKeyReused, ValidationError } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect } from "effect"
import { createHash } from "node:crypto"
import { ServerSettings } from "./ServerSettings.js"

/**
 * JSON with sorted keys and without fields that are null: two requests that ask for the same
 * thing hash alike whatever their key order, and whether an optional field is null or left out
 * (`{"anniversary":null}` and no anniversary both mean none; the second was refused as another
 * request). Array elements keep their nulls (their position is their meaning).
 */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
        Object.entries(v).filter(([, field]) => field !== null && field !== undefined).sort(([a], [b]) =>
          a < b ? -1 : a > b ? 1 : 0
        )
      )
      : v)

/**
 * The fingerprint of a request: pass it the validated input rather than the raw body, so that
 * what validation normalises (trimmed names, a zone link for its canonical name) is the same
 * request too.
 */
export const requestHash = (body: unknown): string => createHash("sha256").update(canonicalJson(body)).digest("hex")

/** The longest `Idempotency-Key` accepted (a UUID is 36; the btree row limit is ~2.7 kB). */
export const maxIdempotencyKeyLength = 255

/** `Idempotency-Key`: 1–255 visible ASCII characters (no spaces, no control characters). */
export const checkIdempotencyKey = (key: string) =>
  key.length === 0 || key.length > maxIdempotencyKeyLength || !/^[\x21-\x7e]+$/.test(key)
    ? Effect.fail(ValidationError.fromIssues([
      new FieldIssue({
        field: "Idempotency-Key",
        reason: key.length === 0
          ? "must not be empty"
          : `must be 1–${maxIdempotencyKeyLength} visible ASCII characters (letters, digits, punctuation)`
      })
    ]))
    : Effect.void

const sweepBatch = 1000

/**
 * Remembers the response to each `(caller, Idempotency-Key)` for `IDEMPOTENCY_TTL`. `claim` runs
 * inside the write's transaction: the key's primary key makes a concurrent retry wait for the
 * first attempt and then replay its response; a failed attempt rolls the key back with everything
 * else. An expired key is claimed afresh, and a background sweep deletes expired keys in batches.
 */
export class IdempotencyStore extends Effect.Service<IdempotencyStore>()("@birthday/server/IdempotencyStore", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ttlMs = Duration.toMillis((yield* ServerSettings).idempotencyTtl)

    /** Claims the key, or returns the stored response of an earlier attempt with the same body. */
    const claim = Effect.fn("IdempotencyStore.claim")(function*(caller: string, key: string, hash: string) {
      const nowMs = yield* Clock.currentTimeMillis
      const now = new Date(nowMs)
      const claimed = yield* sql`
        INSERT INTO idempotency_keys (caller, key, request_hash, status, response, created_at)
        VALUES (${caller}, ${key}, ${hash}, 0, '{}'::jsonb, ${now})
        ON CONFLICT (caller, key) DO UPDATE SET
          request_hash = EXCLUDED.request_hash, status = 0, response = '{}'::jsonb, created_at = EXCLUDED.created_at
        WHERE idempotency_keys.created_at <= ${new Date(nowMs - ttlMs)}
        RETURNING key`
      if (claimed.length > 0) return { replay: false as const }
      const rows = yield* sql<{ request_hash: string; response: unknown }>`
        SELECT request_hash, response FROM idempotency_keys WHERE caller = ${caller} AND key = ${key}`
      const stored = rows[0]!
      if (stored.request_hash !== hash) {
        return yield* new IdempotencyKeyReused({
          key,
          message: `Idempotency-Key ${key} was already used for a different request (another user's fields)`
        })
      }
      return { replay: true as const, response: stored.response }
    })

    /** Stores the response of the attempt that claimed the key. */
    const complete = Effect.fn("IdempotencyStore.complete")(
      function*(caller: string, key: string, status: number, response: unknown) {
        yield* sql`
          UPDATE idempotency_keys SET status = ${status}, response = ${JSON.stringify(response)}::jsonb
          WHERE caller = ${caller} AND key = ${key}`
      }
    )

    /** Deletes expired keys, a bounded batch per statement, while batches come back full. */
    const sweep = Effect.gen(function*() {
      const cutoff = new Date((yield* Clock.currentTimeMillis) - ttlMs)
      let deleted = 0
      while (true) {
        const rows = yield* sql`
          DELETE FROM idempotency_keys WHERE ctid IN (
            SELECT ctid FROM idempotency_keys WHERE created_at <= ${cutoff} LIMIT ${sweepBatch})
          RETURNING 1`
        deleted += rows.length
        if (rows.length < sweepBatch) return deleted
      }
    }).pipe(Effect.withSpan("IdempotencyStore.sweep"))

    // The first sweep waits one interval: at start the migrations may not have run yet.
    const every = Duration.min(Duration.millis(ttlMs), Duration.minutes(10))
    yield* sweep.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("Sweeping expired idempotency keys failed", cause)),
      Effect.delay(every),
      Effect.forever,
      Effect.forkScoped
    )

    return { claim, complete, sweep } as const
  })
}) {}
