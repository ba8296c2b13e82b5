import { FieldIssue, ValidationError } from "@birthday/domain"
import { ParseResult } from "effect"
import { fieldName } from "./FieldName.js"

/** What a schema issue says, without the offending value (a 1 MB field would come back as 2 MB). */
interface Issue {
  readonly _tag: string
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const maxReason = 200

// The parser names types as TypeScript spells them; an integrator reads JSON.
const typeNames: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "a boolean",
  object: "an object",
  "DateTime.Utc": "an ISO 8601 instant (2024-01-01T00:00:00Z)"
}
const typeName = (name: string): string =>
  typeNames[name] ?? name.replace(/^ReadonlyArray<(.*)>$/s, (_, item: string) => `an array of ${typeName(item)}`)

/** The reason of one parser issue, phrased for an integrator rather than as a parser dump. */
export const reasonOf = (issue: Issue): string => {
  // "Expected an integer, actual 1.5" (a Type issue or a refinement's): what it must be.
  if (issue.message.startsWith("Expected ")) {
    return `must be ${typeName(issue.message.slice(9).replace(/, actual [\s\S]*/, ""))}`.slice(0, maxReason)
  }
  switch (issue._tag) {
    case "Missing":
      return "is required"
    case "Unexpected":
      return "is not a known field"
    case "Type":
      return issue.message.slice(0, maxReason)
    default: {
      // "Unable to decode "<the input>" into a number": the type, not the input again.
      const into = /^Unable to decode [\s\S]* into (?:an? )?([^\s]+)$/.exec(issue.message)
      if (into !== null) return `must be ${typeName(into[1]!)}`.slice(0, maxReason)
      return issue.message.replace(/, actual [\s\S]*/, "").slice(0, maxReason)
    }
  }
}

const undefinedAlternative = "must be undefined"

/**
 * The reasons given for one field, as one. A union fails with one issue per member: an optional
 * field's `undefined` says nothing to someone who sent a value (it read "kind must be undefined"),
 * and literals read best as one list.
 */
const mergedReason = (reasons: ReadonlyArray<string>, describedBelow: boolean): string | undefined => {
  const meaningful = [...new Set(reasons.filter((reason) => reason !== undefinedAlternative))]
  if (meaningful.length === 0) return describedBelow ? undefined : "is not allowed here"
  const literals = meaningful.filter((reason) => /^must be ".*"$/.test(reason))
  const others = meaningful.filter((reason) => !literals.includes(reason))
  const alternatives = [
    ...(literals.length > 1 ? [`must be one of ${literals.map((reason) => reason.slice(8)).join(", ")}`] : literals),
    ...others
  ]
  const [first, ...rest] = alternatives
  return [first!, ...rest.map((reason) => reason.replace(/^must be /, ""))].join(" or ").slice(0, maxReason)
}

/** At most this many fields are described in one error; the rest are counted. */
export const maxFieldIssues = 20

/** The fields described, and how many more failed than are described. */
export interface FieldIssues {
  readonly issues: Array<FieldIssue>
  readonly omitted: number
}

/**
 * One `FieldIssue` per field that failed (the first `maxFieldIssues` of them), its reasons merged;
 * `root` names where the checked value sits (`request`, `body`) when the issue is about the value
 * as a whole. Linear in the issues: a body of 60,000 unknown keys once took 40 s here, comparing
 * every field with every other to see whether one was described below it.
 */
export const fieldIssuesOf = (issues: ReadonlyArray<Issue>, root = "body"): FieldIssues => {
  const byField = new Map<string, Array<string>>()
  // Every field with another field below it (`user` when `user.firstName` failed).
  const parents = new Set<string>()
  for (const issue of issues) {
    const path = issue.path.map(String)
    const field = fieldName(path.join(".")) || root
    const reasons = byField.get(field) ?? []
    reasons.push(reasonOf(issue))
    byField.set(field, reasons)
    for (let depth = 1; depth < path.length; depth++) parents.add(fieldName(path.slice(0, depth).join(".")))
  }
  const described: Array<FieldIssue> = []
  let omitted = 0
  for (const [field, reasons] of byField) {
    if (described.length < maxFieldIssues) {
      const reason = mergedReason(reasons, parents.has(field))
      if (reason !== undefined) described.push(new FieldIssue({ field, reason }))
    } else if (!parents.has(field) || reasons.some((reason) => reason !== undefinedAlternative)) omitted++
  }
  return { issues: described, omitted }
}

/** A `ValidationError` listing every issue of a failed decode. */
export const validationErrorOf = (error: ParseResult.ParseError, root = "body"): ValidationError => {
  const { issues, omitted } = fieldIssuesOf(ParseResult.ArrayFormatter.formatErrorSync(error), root)
  return ValidationError.fromIssues(issues, omitted)
}
