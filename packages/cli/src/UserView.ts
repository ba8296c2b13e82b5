import type { User } from "@birthday/domain/User"
import { DateTime } from "effect"
import { renderFields } from "./Table.js"
import type { Column } from "./Table.js"

/** Columns of `users list`. */
export const userColumns: ReadonlyArray<Column<User>> = [
  { header: "ID", cell: (user) => user.id },
  { header: "NAME", cell: (user) => user.fullName },
  { header: "EMAIL", cell: (user) => user.email },
  { header: "BIRTHDAY", cell: (user) => user.birthday },
  { header: "ANNIVERSARY", cell: (user) => user.anniversary ?? "-" },
  { header: "TIME ZONE", cell: (user) => user.timeZone }
]

/** One user as `key  value` lines, for `users show|add|edit`. */
export const renderUser = (user: User): string =>
  renderFields([
    ["id", user.id],
    ["name", user.fullName],
    ["email", user.email],
    ["birthday", user.birthday],
    ["anniversary", user.anniversary ?? "-"],
    ["time zone", user.timeZone],
    ["created", DateTime.formatIso(user.createdAt)],
    ["updated", DateTime.formatIso(user.updatedAt)]
  ])
