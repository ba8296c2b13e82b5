import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { connectionOptions, jsonOption, pagingOptions } from "./CliConfig.js"
import { commandActions } from "./CommandActions.js"
import { withExamples } from "./CommandHelp.js"
import { userImportCommand } from "./UserImportCommand.js"

const actions = commandActions(() => import("./UsersActions.js"))

const idArg = Args.text({ name: "id" }).pipe(Args.withDescription("The user's id"))

const userFields = {
  firstName: Options.text("first-name").pipe(Options.withDescription("Given name")),
  lastName: Options.text("last-name").pipe(Options.withDescription("Family name")),
  email: Options.text("email").pipe(Options.withDescription("Email address (unique among live users)")),
  birthday: Options.text("birthday").pipe(Options.withDescription("Birth date, YYYY-MM-DD")),
  timeZone: Options.text("time-zone").pipe(Options.withDescription("IANA time zone, e.g. Europe/Berlin"))
}

const optionalField = (name: string, description: string) =>
  Options.text(name).pipe(Options.optional, Options.withDescription(description))

/** The options and arguments of each `users` command (UsersActions receives them parsed). */
export const userOptions = {
  add: {
    ...connectionOptions,
    json: jsonOption,
    ...userFields,
    anniversary: Options.text("anniversary").pipe(Options.optional, Options.withDescription("YYYY-MM-DD")),
    idempotencyKey: Options.text("idempotency-key").pipe(
      Options.optional,
      Options.withDescription("Makes a retried add safe: the same key returns the first result")
    )
  },
  list: {
    ...connectionOptions,
    json: jsonOption,
    ...pagingOptions,
    all: Options.boolean("all").pipe(Options.withDescription("Follow cursors and list every user"))
  },
  show: { ...connectionOptions, json: jsonOption, id: idArg },
  edit: {
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
  remove: { ...connectionOptions, id: idArg }
}

const addCommand = Command.make("add", userOptions.add, (args) => actions((users) => users.addUser(args))).pipe(
  Command.withDescription(withExamples("Create a user.", [
    "birthday users add --first-name Ada --last-name Lovelace --email ada@example.com --birthday 1815-12-10 --time-zone Europe/London",
    "birthday users add ... --anniversary 1835-07-08 --json"
  ]))
)

const listCommand = Command.make("list", userOptions.list, (args) => actions((users) => users.listUsers(args))).pipe(
  Command.withDescription(withExamples("List live users, one page at a time.", [
    "birthday users list",
    "birthday users list --limit 20 --cursor <cursor>",
    "birthday users list --all --json | jq length"
  ]))
)

const showCommand = Command.make("show", userOptions.show, (args) => actions((users) => users.showUser(args))).pipe(
  Command.withDescription(
    withExamples("Show one user.", ["birthday users show 0b6f…", "birthday users show <id> --json"])
  )
)

const editCommand = Command.make("edit", userOptions.edit, (args) => actions((users) => users.editUser(args))).pipe(
  Command.withDescription(withExamples("Change some of a user's fields; pending greetings are recomputed.", [
    "birthday users edit <id> --time-zone America/New_York",
    "birthday users edit <id> --clear-anniversary --json"
  ]))
)

const deleteCommand = Command.make("delete", userOptions.remove, (args) => actions((users) => users.deleteUser(args)))
  .pipe(Command.withDescription(withExamples("Delete a user and cancel their pending greetings.", [
    "birthday users delete <id>"
  ])))

/** `birthday users …` */
export const usersCommand = Command.make("users").pipe(
  Command.withDescription("Manage users: add, list, show, edit, delete, import."),
  Command.withSubcommands([addCommand, listCommand, showCommand, editCommand, deleteCommand, userImportCommand])
)
