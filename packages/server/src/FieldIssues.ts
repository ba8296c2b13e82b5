import { FieldIssue, ValidationError } from "@birthday/domain"
import { ParseResult } from "effect"

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
  switch (issue._tag) {
    case "Missing":
      return "is required"
    case "Unexpected":
      return "is not a known field"
    case "Type":
      return issue.message.startsWith("Expected ")
        ? `must be ${typeName(issue.message.slice(9).replace(/, actual [\s\S]*/, ""))}`.slice(0, maxReason)
        : issue.message.slice(0, maxReason)
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

/**
 * One `FieldIssue` per field that failed, its reasons merged; `root` names where the checked value
 * sits (`request`, `body`) when the issue is about the value as a whole.
 */
export const fieldIssuesOf = (issues: ReadonlyArray<Issue>, root = "body"): Array<FieldIssue> => {
  const byField = new Map<string, Array<string>>()
  for (const issue of issues) {
    const field = issue.path.map(String).join(".") || root
    const reasons = byField.get(field) ?? []
    reasons.push(reasonOf(issue))
    byField.set(field, reasons)
  }
  const fields = [...byField.keys()]
  return [...byField.entries()].flatMap(([field, reasons]) => {
    const describedBelow = fields.some((other) => other.startsWith(`${field}.`))
    const reason = mergedReason(reasons, describedBelow)
    return reason === undefined ? [] : [new FieldIssue({ field, reason })]
  }).slice(0, 50)
}

/** A `ValidationError` listing every issue of a failed decode. */
export const validationErrorOf = (error: ParseResult.ParseError, root = "body"): ValidationError =>
  ValidationError.fromIssues(fieldIssuesOf(ParseResult.ArrayFormatter.formatErrorSync(error), root))
