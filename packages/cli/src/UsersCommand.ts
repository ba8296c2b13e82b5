import { User, type UserInputJson, UserPage } from "@birthday/domain"
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { withApiClient } from "./ApiClient.js"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { withExamples } from "./CommandHelp.js"
import { printJson, printTable } from "./Output.js"
import { userImportCommand } from "./UserImportCommand.js"
import { renderUser, userColumns } from "./UserView.js"

const idArg = Args.text({ name: "id" }).pipe(Args.withDescription("The user's id"))

const printUser = (user: User, json: boolean) => json ? printJson(User, user) : Console.log(renderUser(user))

const userFields = {
  firstName: Options.text("first-name").pipe(Options.withDescription("Given name")),
  lastName: Options.text("last-name").pipe(Options.withDescription("Family name")),
  email: Options.text("email").pipe(Options.withDescription("Email address (unique among live users)")),
  birthday: Options.text("birthday").pipe(Options.withDescription("Birth date, YYYY-MM-DD")),
  timeZone: Options.text("time-zone").pipe(Options.withDescription("IANA time zone, e.g. Europe/Berlin"))
}

const addCommand = Command.make(
  "add",
  {
    ...connectionOptions,
    json: jsonOption,
    ...userFields,
    anniversary: Options.text("anniversary").pipe(Options.optional, Options.withDescription("YYYY-MM-DD")),
    idempotencyKey: Options.text("idempotency-key").pipe(
      Options.optional,
      Options.withDescription("Makes a retried add safe: the same key returns the first result")
    )
  },
  ({ anniversary, idempotencyKey, json, ...options }) =>
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
).pipe(Command.withDescription(withExamples("Create a user.", [
  "birthday users add --first-name Ada --last-name Lovelace --email ada@example.com --birthday 1815-12-10 --time-zone Europe/London",
  "birthday users add ... --anniversary 1835-07-08 --json"
])))

const listCommand = Command.make(
  "list",
  {
    ...connectionOptions,
    json: jsonOption,
    limit: Options.integer("limit").pipe(Options.withDefault(100), Options.withDescription("Page size, 1–500")),
    cursor: Options.text("cursor").pipe(Options.optional, Options.withDescription("Cursor of the page to show")),
    all: Options.boolean("all").pipe(Options.withDescription("Follow cursors and list every user"))
  },
  ({ all, cursor, json, limit, ...connection }) =>
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
      })).pipe(Effect.flatMap((page) =>
        json ? printJson(UserPage, page) : printTable(userColumns, page.items, "No users.").pipe(
          Effect.zipRight(page.nextCursor === null ? Effect.void : Console.log(`\nMore: --cursor ${page.nextCursor}`))
        )
      ))
).pipe(Command.withDescription(withExamples("List live users, one page at a time.", [
  "birthday users list",
  "birthday users list --limit 20 --cursor <cursor>",
  "birthday users list --all --json | jq length"
])))

const showCommand = Command.make(
  "show",
  { ...connectionOptions, json: jsonOption, id: idArg },
  ({ id, json, ...connection }) =>
    withApiClient(connection, (client) => client.users.get({ path: { id } })).pipe(
      Effect.flatMap((user) => printUser(user, json))
    )
).pipe(
  Command.withDescription(
    withExamples("Show one user.", ["birthday users show 0b6f…", "birthday users show <id> --json"])
  )
)

const optionalField = (name: string, description: string) =>
  Options.text(name).pipe(Options.optional, Options.withDescription(description))

const editCommand = Command.make(
  "edit",
  {
    ...connectionOptions,
    json: jsonOption,
    id: idArg,
    firstName: optionalField("first-name", "New given name"),
    lastName: optionalField("last-name", "New family name"),
    email: optionalField("email", "New email"),
    birthday: optionalField("birthday", "New birth date, YYYY-MM-DD"),
    timeZone: optionalField("time-zone", "New IANA time zone"),
    anniversary: optionalField("anniversary", "New anniversary, YYYY-MM-DD"),
    clearAnniversary: Options.boolean("clear-anniversary").pipe(Options.withDescription("Remove the anniversary"))
  },
  ({ clearAnniversary, id, json, token, url, ...changes }) =>
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
).pipe(Command.withDescription(withExamples("Change some of a user's fields; pending greetings are recomputed.", [
  "birthday users edit <id> --time-zone America/New_York",
  "birthday users edit <id> --clear-anniversary --json"
])))

const deleteCommand = Command.make(
  "delete",
  { ...connectionOptions, id: idArg },
  ({ id, ...connection }) =>
    withApiClient(connection, (client) => client.users.remove({ path: { id } })).pipe(
      Effect.zipRight(Console.log(`Deleted user ${id}`))
    )
).pipe(Command.withDescription(withExamples("Delete a user and cancel their pending greetings.", [
  "birthday users delete <id>"
])))

/** `birthday users …` */
export const usersCommand = Command.make("users").pipe(
  Command.withDescription("Manage users: add, list, show, edit, delete, import."),
  Command.withSubcommands([addCommand, listCommand, showCommand, editCommand, deleteCommand, userImportCommand])
)
