/**
 * `pnpm bench api`: requests/s and p50/p99 latency of `POST /users` and `GET /users/{id}` on
 * loopback, side by side with a bare `node:http` + `pg` server doing the same create and read
 * (support/BareServer.ts) in the same run — closed loops at fixed concurrency taking turns a
 * second at a time (throughput, with the API/bare ratio), then an open loop at a fixed 1,000 requests/s against the API (the
 * service level of product.md §7: p99 < 10 ms at 1,000 req/s, 90% reads / 10% writes).
 */
import { randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import { Pool } from "undici"
import { quantile, startBareServer, startBenchServer } from "./support/BenchServer.js"

const concurrency = Number(process.argv[3] ?? 32)
const seconds = Number(process.argv[4] ?? 10)
const zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Melbourne", "Asia/Kolkata"]
const server = await startBenchServer({ RATE_LIMIT_PER_SECOND: "1000000", RATE_LIMIT_BURST: "1000000" })
const bare = await startBareServer(server.databaseUrl)

interface Target {
  readonly pool: Pool
  readonly ids: Array<string>
}
const target = (baseUrl: string): Target => ({
  pool: new Pool(baseUrl, { connections: concurrency, pipelining: 1 }),
  ids: []
})
const api = target(server.baseUrl)
const reference = target(bare.baseUrl)

const body = () =>
  JSON.stringify({
    firstName: "Bench",
    lastName: "User",
    email: `bench-${randomUUID()}@example.com`,
    birthday: `19${String(50 + Math.floor(Math.random() * 50))}-0${1 + Math.floor(Math.random() * 9)}-1${
      Math.floor(Math.random() * 9)
    }`,
    timeZone: zones[Math.floor(Math.random() * zones.length)]
  })

const create = (on: Target) => async () => {
  const response = await on.pool.request({
    method: "POST",
    path: "/users",
    headers: { "content-type": "application/json" },
    body: body()
  })
  const json = await response.body.json() as { id: string }
  if (response.statusCode !== 201) throw new Error(`create answered ${response.statusCode}`)
  on.ids.push(json.id)
}

const get = (on: Target) => async () => {
  const id = on.ids[Math.floor(Math.random() * on.ids.length)]!
  const response = await on.pool.request({ method: "GET", path: `/users/${id}` })
  await response.body.dump()
  if (response.statusCode !== 200) throw new Error(`get answered ${response.statusCode}`)
}

const timed = async (samples: Array<number>, op: () => Promise<void>) => {
  const start = performance.now()
  await op()
  samples.push(performance.now() - start)
}

const report = (label: string, samples: Array<number>, elapsedMs: number) => {
  const sorted = samples.toSorted((a, b) => a - b)
  const rate = samples.length / (elapsedMs / 1000)
  console.log(
    `  ${label.padEnd(34)} ${String(Math.round(samples.length / (elapsedMs / 1000))).padStart(6)} req/s   p50 ${
      quantile(sorted, 0.5).toFixed(2)
    } ms   p99 ${quantile(sorted, 0.99).toFixed(2)} ms   max ${sorted.at(-1)?.toFixed(2)} ms`
  )
  return rate
}

/** Runs `op` on `concurrency` connections until `end`, each connection sending its next request after an answer. */
const closedLoopUntil = async (samples: Array<number>, end: number, op: () => Promise<void>) => {
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) await timed(samples, op)
  }))
}

/**
 * Closed loops on the bare server and the API taking turns, one second each, for `seconds` each:
 * the machine's other work (2 cores, shared) changes from one second to the next, and ten-second
 * phases one after the other could give one server a quiet machine and the other a busy one.
 */
const alternated = async (label: string, bareOp: () => Promise<void>, apiOp: () => Promise<void>) => {
  const runs = [{ name: `bare ${label}`, op: bareOp }, { name: label, op: apiOp }].map((run) => ({
    ...run,
    samples: [] as Array<number>,
    elapsedMs: 0
  }))
  for (let turn = 0; turn < seconds; turn++) {
    for (const run of runs) {
      const start = performance.now()
      await closedLoopUntil(run.samples, start + 1000, run.op)
      run.elapsedMs += performance.now() - start
    }
  }
  return runs.map((run) => report(`${run.name} (closed, c=${concurrency})`, run.samples, run.elapsedMs)) as [
    number,
    number
  ]
}

/** Sends at a fixed rate whatever the latency, so slow answers cannot hide behind fewer requests. */
const openLoop = async (label: string, rate: number, op: () => Promise<void>) => {
  const samples: Array<number> = []
  const total = rate * seconds
  const start = performance.now()
  const inflight: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    inflight.push(timed(samples, op))
  }
  await Promise.all(inflight)
  report(label, samples, performance.now() - start)
}

const ratio = (label: string, ours: number, theirs: number) =>
  console.log(`  ${label.padEnd(34)} ${(ours / theirs).toFixed(2)} × the bare server`)

try {
  console.log(`api: ${concurrency} connections, ${seconds} s per phase, server ${server.baseUrl}, bare ${bare.baseUrl}`)
  for (let i = 0; i < 200; i++) await create(api)() // warm-up (JIT, pool, plans)
  for (let i = 0; i < 200; i++) await create(reference)()
  const [bareCreate, apiCreate] = await alternated("POST /users", create(reference), create(api))
  const [bareGet, apiGet] = await alternated("GET /users/{id}", get(reference), get(api))
  ratio("POST /users", apiCreate, bareCreate)
  ratio("GET /users/{id}", apiGet, bareGet)
  await openLoop("POST /users (open, 1,000/s)", 1000, create(api))
  await openLoop("GET /users/{id} (open, 1,000/s)", 1000, get(api))
  let sent = 0
  await openLoop("mixed 90/10 (open, 1,000/s)", 1000, () => sent++ % 10 === 0 ? create(api)() : get(api)())
} finally {
  await Promise.all([api.pool.close(), reference.pool.close()])
  await bare.stop()
  await server.stop()
}
