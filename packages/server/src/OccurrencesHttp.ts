import { BirthdayApi, UserOccurrence, UserOccurrences } from "@birthday/domain"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { HttpApiBuilder } from "@effect/platform"
import { DateTime, Effect } from "effect"
import { DateTime as LuxonDateTime } from "luxon"
import { UserService } from "./UserService.js"

/** Handlers of the occurrences group: a user's next occurrence of each kind. */
export const OccurrencesHttpLive = HttpApiBuilder.group(
  BirthdayApi,
  "occurrences",
  (handlers) =>
    Effect.gen(function*() {
      const ledger = yield* OccurrenceLedger
      const users = yield* UserService
      return handlers.handle("forUser", ({ path }) =>
        Effect.gen(function*() {
          // The user check answers 404 for unknown, deleted and malformed ids alike.
          const user = yield* users.get(path.id)
          const rows = yield* ledger.nextForUser(user.id).pipe(Effect.orDie)
          return UserOccurrences.make({
            userId: user.id,
            items: rows.map((row) =>
              UserOccurrence.make({
                key: row.key,
                kind: row.kind,
                year: row.year,
                state: row.state,
                localDate: row.local_date,
                dueAt: DateTime.unsafeMake(row.due_ms),
                localDueAt: LuxonDateTime.fromMillis(row.due_ms, { zone: row.time_zone }).toISO() ?? "",
                timeZone: row.time_zone
              })
            )
          })
        }))
    })
)
