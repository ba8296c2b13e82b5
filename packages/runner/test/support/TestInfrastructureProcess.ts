/**
 * Starts what the test run lacks on the default addresses (embedded Postgres without fsync,
 * `nats-server -js`) in a temporary folder, prints one line, and on SIGTERM or SIGINT, or when
 * its stdin closes (the test run that started it is gone), stops them and removes the folder. Run
 * by TestInfrastructure.
 */
import { localNats, localPostgres } from "@birthday/local/LocalInfrastructure"
import { ConfigProvider, Deferred, Effect, Option } from "effect"
import { chmodSync, fstatSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** The environment without the URLs: the suites always use the default addresses. */
const withoutUrls = ConfigProvider.fromMap(
  new Map(
    Object.entries(process.env).flatMap(([name, value]) =>
      value === undefined || name === "DATABASE_URL" || name === "NATS_URL" ? [] : [[name, value] as const]
    )
  )
)

const program = Effect.gen(function*() {
  const folder = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const created = mkdtempSync(join(tmpdir(), "birthday-test-"))
      // As root, Postgres runs as its own user, which must reach its data folder.
      chmodSync(created, 0o755)
      return created
    }),
    (created) => Effect.sync(() => rmSync(created, { recursive: true, force: true }))
  )
  const services = [
    yield* localPostgres(join(folder, "postgres"), { durable: false }),
    yield* localNats(join(folder, "nats"))
  ]
  const started = services.filter((service) => Option.isSome(service.dataDirectory))
  console.log(
    `test infrastructure: started ${started.map((service) => `${service.name} on ${service.url}`).join(", ")}`
  )
  const stop = yield* Deferred.make<void>()
  const stopNow = () => Deferred.unsafeDone(stop, Effect.void)
  process.once("SIGTERM", stopNow).once("SIGINT", stopNow)
  // The started servers run in process groups of their own: nothing else stops them once the
  // parent is gone (killed, or interrupted without running its teardown), so its pipe's end does.
  const stdin = fstatSync(0)
  if (stdin.isFIFO() || stdin.isSocket()) process.stdin.once("end", stopNow).once("close", stopNow).resume()
  yield* Deferred.await(stop)
}).pipe(Effect.scoped, Effect.withConfigProvider(withoutUrls))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    console.log(`test infrastructure: cannot start: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
