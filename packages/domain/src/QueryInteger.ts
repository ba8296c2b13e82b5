import { ParseResult, Schema } from "effect"

/**
 * An integer query parameter from `min` to `max`, written in decimal digits only: `Number` also
 * reads `0x10`, `1e2`, ` 10` and `10.0`, which no integrator means as a page size.
 */
export const QueryInteger = (min: number, max: number, description: string) =>
  Schema.transformOrFail(Schema.String, Schema.Int, {
    strict: true,
    decode: (text, _, ast) => {
      const value = Number(text)
      return /^\d{1,9}$/.test(text) && value >= min && value <= max
        ? ParseResult.succeed(value)
        : ParseResult.fail(new ParseResult.Type(ast, text, `must be an integer from ${min} to ${max}`))
    },
    encode: (value) => ParseResult.succeed(String(value))
  }).annotations({ description })
