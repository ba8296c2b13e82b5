/**
 * What counts as a valid email address (product.md §2: "a valid address"): the dot-atom form of
 * RFC 5321 that mail to a person uses, with international letters allowed (RFC 6531 local parts,
 * IDN domains). Refused although RFC 5322 has a spelling for them, because no integrator means
 * them for a greeting: quoted local parts (`"a b"@x.com`), comments, IP literals (`a@[127.0.0.1]`)
 * and bare IPs, dot-less domains (`a@localhost`). The provider remains the final judge.
 */

// atext (RFC 5322 §3.2.3) plus letters, digits and marks of any script.
const atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\p{L}\\p{N}\\p{M}]+"
const localPart = new RegExp(`^${atom}(?:\\.${atom})*$`, "u")
// A DNS label: letters and digits, hyphens inside only, 1–63 characters.
const label = /^[\p{L}\p{N}\p{M}](?:[\p{L}\p{N}\p{M}-]{0,61}[\p{L}\p{N}\p{M}])?$/u
// A top-level domain is letters (no TLD is numeric or one letter) or an IDN's A-label.
const topLevel = /^(?:[\p{L}\p{M}]{2,63}|xn--[a-z0-9-]{1,59})$/iu

const utf8 = new TextEncoder()

const invalid = (detail: string) => `must be a valid email address (name@example.com): ${detail}`

/** Why `address` is not a valid email address, or undefined when it is. */
export const emailAddressProblem = (address: string): string | undefined => {
  const at = address.lastIndexOf("@")
  if (at < 0) return invalid("there is no @")
  const local = address.slice(0, at)
  const domain = address.slice(at + 1)
  if (local.length === 0) return invalid("there is nothing before the @")
  if (!localPart.test(local)) {
    return invalid("before the @ go letters, digits and !#$%&'*+/=?^_`{|}~- with single dots inside")
  }
  if (utf8.encode(local).length > 64) return invalid("more than 64 bytes before the @")
  if (domain.length > 253) return invalid("the domain is longer than 253 characters")
  const labels = domain.split(".")
  if (labels.length < 2) return invalid("the domain has no dot")
  if (!labels.every((part) => label.test(part))) {
    return invalid("the domain is letters, digits and inner hyphens between single dots")
  }
  if (!topLevel.test(labels[labels.length - 1]!)) {
    return invalid("the domain must end in two or more letters")
  }
  return undefined
}
