import { FieldIssue, ValidationError } from "@birthday/domain"
import { ParseResult } from "effect"

/** What a schema issue says, without the offending value (a 1 MB field would come back as 2 MB). */
interface Issue {
  readonly _tag: string
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const maxReason = 200

/** The reason of one parser issue, phrased for an integrator rather than as a parser dump. */
export const reasonOf = (issue: Issue): string => {
  switch (issue._tag) {
    case "Missing":
      return "is required"
    case "Unexpected":
      return "is not a known field"
    case "Type":
      return issue.message.startsWith("Expected ")
        ? `must be ${issue.message.slice(9).replace(/, actual [\s\S]*/, "")}`.slice(0, maxReason)
        : issue.message.slice(0, maxReason)
    default:
      return issue.message.replace(/, actual [\s\S]*/, "").slice(0, maxReason)
  }
}

/** One `FieldIssue` per schema issue; `prefix` names where the checked value sits (`query`, `body`). */
export const fieldIssuesOf = (issues: ReadonlyArray<Issue>, root = "body"): Array<FieldIssue> =>
  issues.slice(0, 50).map((issue) =>
    new FieldIssue({ field: issue.path.map(String).join(".") || root, reason: reasonOf(issue) })
  )

/** A `ValidationError` listing every issue of a failed decode. */
export const validationErrorOf = (error: ParseResult.ParseError, root = "body"): ValidationError =>
  ValidationError.fromIssues(fieldIssuesOf(ParseResult.ArrayFormatter.formatErrorSync(error), root))
