import type { OccasionKind } from "./OccasionKind.js"

/** The names a greeting addresses; satisfied by `User`. */
export interface Addressee {
  readonly firstName: string
  readonly lastName: string
}

/** The full name greetings use: `firstName + " " + lastName`. */
export const fullName = ({ firstName, lastName }: Addressee): string => `${firstName} ${lastName}`

/** The greeting text of a kind for a user, from the kind's template. */
export const renderMessage = (kind: Pick<OccasionKind, "template">, addressee: Addressee): string =>
  // A replacer function, so a `$&` or `$1` inside a name is never read as a replacement pattern.
  kind.template.replaceAll("{full_name}", () => fullName(addressee))
