import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import { Context } from "effect"
import { Unauthorized } from "./Errors.js"

/** Who made a request: the bearer token's label, or `anonymous` when auth is off. */
export class Caller extends Context.Tag("@birthday/domain/Caller")<Caller, { readonly name: string }>() {}

/** Bearer-token auth, required on every group but health when `API_TOKENS` is set. */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("@birthday/domain/Authorization", {
  failure: Unauthorized,
  provides: Caller,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
