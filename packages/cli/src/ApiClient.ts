import { BirthdayApi } from "@birthday/domain/Api"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Option, Redacted } from "effect"
import type { Connection } from "./CliConfig.js"
import { CliFailure, describeFailure } from "./CliFailure.js"

/** The client derived from the domain API, so the CLI cannot drift from the server. */
export const makeApiClient = ({ token, url }: Connection) =>
  HttpApiClient.make(BirthdayApi, {
    baseUrl: url,
    transformClient: Option.match(token, {
      onNone: () => (client: HttpClient.HttpClient) => client,
      onSome: (secret) => HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(secret)))
    })
  })

/** The derived API client. */
export type ApiClient = Effect.Effect.Success<ReturnType<typeof makeApiClient>>

/** Runs `use` with a client for `connection`, turning every failure into a one-line `CliFailure`. */
export const withApiClient = <A, E, R>(connection: Connection, use: (client: ApiClient) => Effect.Effect<A, E, R>) =>
  makeApiClient(connection).pipe(
    Effect.flatMap(use),
    Effect.mapError((error) =>
      error instanceof CliFailure ? error : new CliFailure({ message: describeFailure(error, connection.url) })
    )
  )
