/**
 * Checks of URL settings (DATABASE_URL, NATS_URL, EMAIL_SERVICE_URL, OTEL_EXPORTER_OTLP_ENDPOINT)
 * at start, so a malformed one fails in one line naming the setting and what is wrong instead of a
 * bare "Invalid URL" from deep inside a client. The messages never repeat the value: a database
 * URL holds a password.
 */
import { ConfigError, Either } from "effect"

/** What is wrong with `raw` as a URL of one of `schemes` (e.g. `["postgres:"]`), if anything. */
export const urlProblem = (
  raw: string,
  schemes: ReadonlyArray<string>,
  example: string
): string | undefined => {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    return `is not a URL; expected ${example} (characters such as @ : / ? # in a user or password percent-encoded)`
  }
  if (!schemes.includes(url.protocol)) {
    return `has the scheme ${url.protocol.slice(0, 20)}, expected ${
      schemes.map((scheme) => `${scheme}//`).join(" or ")
    }`
  }
  if (url.hostname === "") return `names no host; expected ${example}`
  return undefined
}

/** `urlProblem` as a `Config.mapOrFail` step: the value when it is a URL, else why not. */
export const checkUrl = (schemes: ReadonlyArray<string>, example: string) => (raw: string) => {
  const problem = urlProblem(raw, schemes, example)
  return problem === undefined ? Either.right(raw) : Either.left(ConfigError.InvalidData([], problem))
}
