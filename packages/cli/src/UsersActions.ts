import { User, type UserInputJson, UserPage } from "@birthday/domain/User"
import { Console, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import type { ParsedArgs } from "./CommandActions.js"
import { printJson, printTable } from "./Output.js"
import type { userOptions } from "./UsersCommand.js"
import { renderUser, userColumns } from "./UserView.js"

const printUser = (user: User, json: boolean) => json ? printJson(User, user) : Console.log(renderUser(user))

/** `birthday users add` */
export const addUser = (
  { anniversary, idempotencyKey, json, ...options }: ParsedArgs<typeof userOptions.add>
) =>
  withApiClient(options, (client) =>
    client.users.create({
      payload: {
        firstName: options.firstName,
        lastName: options.lastName,
        email: options.email,
        birthday: options.birthday,
        timeZone: options.timeZone,
        ...Option.match(anniversary, { onNone: () => ({}), onSome: (date) => ({ anniversary: date }) })
      },
      headers: { "idempotency-key": Option.getOrUndefined(idempotencyKey) }
    })).pipe(Effect.flatMap((user) => printUser(user, json)))

/** `birthday users list` */
export const listUsers = ({ all, cursor, json, limit, ...connection }: ParsedArgs<typeof userOptions.list>) =>
  withApiClient(connection, (client) =>
    Effect.gen(function*() {
      const items: Array<User> = []
      let next = Option.getOrUndefined(cursor)
      do {
        const page = yield* client.users.list({ urlParams: { cursor: next, limit: String(limit) } })
        items.push(...page.items)
        next = page.nextCursor ?? undefined
      } while (all && next !== undefined)
      return UserPage.make({ items, nextCursor: next ?? null })
    })).pipe(
      Effect.flatMap((page) =>
        json ? printJson(UserPage, page) : printTable(userColumns, page.items, "No users.").pipe(
          Effect.zipRight(page.nextCursor === null ? Effect.void : Console.log(`\nMore: --cursor ${page.nextCursor}`))
        )
      )
    )

/** `birthday users show` */
export const showUser = ({ id, json, ...connection }: ParsedArgs<typeof userOptions.show>) =>
  withApiClient(connection, (client) => client.users.get({ path: { id } })).pipe(
    Effect.flatMap((user) => printUser(user, json))
  )

/** `birthday users edit`: the current user with the given fields replaced. */
export const editUser = (
  { clearAnniversary, id, json, token, url, ...changes }: ParsedArgs<typeof userOptions.edit>
) =>
  withApiClient({ token, url }, (client) =>
    Effect.gen(function*() {
      const current = yield* client.users.get({ path: { id } })
      const pick = (change: Option.Option<string>, value: string) => Option.getOrElse(change, () => value)
      const payload: UserInputJson = {
        firstName: pick(changes.firstName, current.firstName),
        lastName: pick(changes.lastName, current.lastName),
        email: pick(changes.email, current.email),
        birthday: pick(changes.birthday, current.birthday),
        timeZone: pick(changes.timeZone, current.timeZone),
        anniversary: clearAnniversary ? null : Option.getOrElse(changes.anniversary, () => current.anniversary)
      }
      return yield* client.users.update({ path: { id }, payload })
    })).pipe(Effect.flatMap((user) => printUser(user, json)))

/** `birthday users delete` */
export const deleteUser = ({ id, ...connection }: ParsedArgs<typeof userOptions.remove>) =>
  withApiClient(connection, (client) => client.users.remove({ path: { id } })).pipe(
    Effect.zipRight(Console.log(`Deleted user ${id}`))
  )
