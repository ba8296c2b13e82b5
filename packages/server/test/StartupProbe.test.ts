import { expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { spawn } from "node:child_process"
import { get } from "node:http"
import { fileURLToPath } from "node:url"
import { testDatabaseUrl } from "./support/TestDatabase.js"
import { freePort } from "./support/TestServer.js"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

type Outcome = "refused" | "hung" | "reset" | number

/**
 * One probe on a connection of its own (no keep-alive pool: a pooled connection the server closed
 * after an answer could be picked for the next probe and read as a reset, which says nothing about
 * the start): an HTTP status, a refused connection (nothing listens yet), or no answer in 15 s (an
 * unmounted server never answers; 15 s rather than less because a loaded 2-core machine can stall
 * a starting server's event loop for seconds).
 */
const probe = (url: string): Promise<Outcome> =>
  new Promise((resolve) => {
    const request = get(url, { agent: false, timeout: 15_000 }, (response) => {
      response.resume()
      response.once("end", () => resolve(response.statusCode ?? "reset"))
      response.once("error", () => resolve("reset"))
    })
    request.once("timeout", () => {
      request.destroy()
      resolve("hung")
    })
    request.once(
      "error",
      (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED" ? "refused" : "reset")
    )
  })

it.live(
  "from the first millisecond of a server start, every connection is answered (503 until ready, then 200), none hangs",
  () =>
    Effect.gen(function*() {
      const db = yield* testDatabaseUrl
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}/health/ready`
      const child = spawn(process.execPath, ["--import", "tsx", "packages/server/src/main.ts"], {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: Redacted.value(db.url), HTTP_PORT: String(port), LOG_LEVEL: "warn" },
        stdio: ["ignore", "ignore", "inherit"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))

      // A new probe every 5 ms from launch, each on its own, until one is answered 200 (the app
      // is mounted and migrated) and the probes already in flight have settled.
      const outcomes = yield* Effect.promise(async () => {
        const probes: Array<Promise<Outcome>> = []
        let ready = false
        const deadline = Date.now() + 180_000
        while (!ready && Date.now() < deadline) {
          probes.push(
            probe(url).then((outcome) => {
              if (outcome === 200) ready = true
              return outcome
            })
          )
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
        return Promise.all(probes)
      })
      const count = (outcome: Outcome) => outcomes.filter((each) => each === outcome).length
      console.log(
        `startup probe: ${outcomes.length} probes: ${count("refused")} refused before listen, ${
          count(503)
        } answered 503, ` +
          `${count(200)} answered 200, ${count("hung")} hung, ${count("reset")} reset`
      )
      expect(count(200)).toBeGreaterThan(0)
      // Nothing listening is an answer (refused at once); a connection accepted and left silent is not.
      expect(outcomes.filter((outcome) => outcome !== "refused" && outcome !== 503 && outcome !== 200)).toEqual([])
      // The listener was up before the app was ready: the probes saw the 503 phase, not just luck.
      expect(count(503)).toBeGreaterThan(0)
    }).pipe(Effect.scoped),
  { timeout: 300_000 }
)
