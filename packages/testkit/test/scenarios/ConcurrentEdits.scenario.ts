/**
 * Randomized (seeded: TESTKIT_SEED) concurrent scenario on the real processes: users created
 * through the API, all due at one instant; around that instant, edits of birthday, zone and
 * anniversary, deletes and re-creates race the slice rounds and the workers, while runners are
 * SIGKILLed and restarted. Afterwards the simulator's log and the ledger check agree: at most one
 * acknowledged send per key, every due greeting of a live user settled, and every live user has its
 * next occurrence at the instant the calendar gives for its current data.
 * SCENARIO_USERS (default 200) and SCENARIO_EDITS (default users / 2) size it.
 */
import type { UserInputJson } from "@birthday/domain"
import {
  checkInvariants,
  dueSoon,
  formatReport,
  runTimedActions,
  seededRandom,
  sleepUntil,
  startSystem,
  type TimedAction,
  userInput,
  utcZones,
  waitFor
} from "@birthday/testkit"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

const users = Number(process.env.SCENARIO_USERS ?? 200)
const edits = Number(process.env.SCENARIO_EDITS ?? Math.floor(users / 2))

/** Zones whose send time is far from the UTC due instant: an edit into one moves the greeting. */
const movedZones = ["Asia/Tokyo", "America/New_York", "Pacific/Kiritimati", "Europe/Berlin", "Pacific/Pago_Pago"]

describe("concurrent edits, deletes and kills around the due instant", () => {
  it.scopedLive(
    `${users} users due at one instant, ${edits} racing changes, runners SIGKILLed: the log and the ledger agree`,
    () =>
      Effect.gen(function*() {
        const random = seededRandom("concurrent-edits")
        console.log(`seed ${random.seed}`)
        // Starting the processes and creating the users on a busy two-core machine takes minutes.
        const plan = dueSoon(330_000 + users * 60)
        const startedAt = Date.now()
        const system = yield* startSystem({ label: "edits", runners: 2, env: plan.env })
        console.log(`system started in ${Date.now() - startedAt} ms`)
        const day = (offset: number) => {
          const at = new Date(plan.dueAt + offset * 86_400_000)
          return `1990-${String(at.getUTCMonth() + 1).padStart(2, "0")}-${String(at.getUTCDate()).padStart(2, "0")}`
        }
        const created = yield* system.api.createMany(
          Array.from({ length: users }, (_, i) =>
            userInput({
              birthday: plan.anchor(1960 + (i % 40)),
              timeZone: random.pick(utcZones),
              ...(random.chance(0.5) ? { anniversary: plan.anchor(2010) } : {})
            })),
          16
        )
        console.log(`users created ${Date.now() - startedAt} ms after start; due ${plan.dueAt - Date.now()} ms ahead`)
        expect(Date.now()).toBeLessThan(plan.dueAt)
        // The live users as the test believes them to be (id → body); the ledger check reads the database.
        const current = new Map<string, UserInputJson>(created.map((user) => [user.id, {
          firstName: user.firstName,
          lastName: user.lastName,
          email: user.email,
          birthday: user.birthday,
          timeZone: user.timeZone,
          anniversary: user.anniversary ?? null
        }]))
        const ids = [...current.keys()]
        const refusals: Array<string> = []
        const tally = { zone: 0, birthday: 0, anniversary: 0, deleted: 0, recreated: 0, refused: 0 }

        const change = (id: string): Effect.Effect<void> =>
          Effect.gen(function*() {
            const body = current.get(id)
            if (body === undefined) return
            const roll = random.next()
            if (roll < 0.15) {
              yield* system.api.remove(id)
              current.delete(id)
              tally.deleted++
              if (random.chance(0.5)) {
                const again = yield* system.api.create({ ...body, email: `again-${body.email}` })
                current.set(again.id, { ...body, email: again.email })
                tally.recreated++
              }
              return
            }
            const next: UserInputJson = roll < 0.45
              ? { ...body, timeZone: random.pick(random.chance(0.5) ? movedZones : utcZones) }
              : roll < 0.75
              ? { ...body, birthday: day(random.pick([-3, -1, 0, 1, 30, 200])) }
              : {
                ...body,
                anniversary: body.anniversary ? null : day(random.pick([0, 0, -1, 1, 90])).replace("1990", "2010")
              }
            yield* system.api.update(id, next)
            current.set(id, next)
            if (next.timeZone !== body.timeZone) tally.zone++
            else if (next.birthday !== body.birthday) tally.birthday++
            else tally.anniversary++
          }).pipe(Effect.catchAll((error) =>
            Effect.sync(() => {
              tally.refused++
              if (refusals.length < 5) refusals.push(`${error.request} → ${error.status}: ${error.body.slice(0, 120)}`)
            })
          ))

        const actions: Array<TimedAction> = Array.from({ length: edits }, (_, i) => {
          const id = random.pick(ids)
          return { at: random.instantAround(plan.dueAt, 4_000, 6_000), label: `change ${i} ${id}`, run: change(id) }
        })
        // Two kills of each runner around the due instant, each restarted a few seconds later.
        const kills = system.runners.flatMap((runner) =>
          [0, 1].map((k) => ({
            at: random.instantAround(plan.dueAt + 1_000 + k * 12_000, 500, 3_000),
            label: `SIGKILL ${runner.id} (${k + 1})`,
            run: Effect.zipRight(
              runner.process.kill,
              Effect.zipRight(Effect.sleep("3 seconds"), runner.process.restart())
            )
          }))
        )
        const records = yield* runTimedActions([...actions, ...kills])
        console.log(
          "kills",
          records.filter((r) => r.label.startsWith("SIGKILL")).map((r) =>
            `${r.label} at due+${r.startedAt - plan.dueAt} ms${r.failed ? ` failed: ${r.failed}` : ""}`
          )
        )
        console.log("changes", tally, "first refusals", refusals)

        // Quiet: nothing due is still open (sent, expired, or dead by the late window's rules).
        yield* sleepUntil(plan.dueAt)
        yield* waitFor(
          "every due greeting settled",
          system.query<{ n: number }>(`
            SELECT count(*)::int AS n FROM occurrences o JOIN users u ON u.id = o.user_id
            WHERE u.deleted_at IS NULL AND o.due_at <= now() AND o.state IN ('pending', 'enqueued', 'sending', 'retrying')`),
          (rows) => (rows[0]?.n ?? 1) === 0,
          { timeoutMs: 180_000 }
        ).pipe(Effect.catchAllDefect((defect) => Effect.sync(() => console.error(String(defect)))))
        // A send in flight when its runner was killed has no recorded outcome and is resent under its
        // key (product.md §3, the ambiguous policy): such repeats are reported apart, not as violations.
        const crashes = records.flatMap((r) => {
          const killed = /^SIGKILL (\S+) /.exec(r.label)
          return killed === null ? [] : [{ runnerId: killed[1]!, at: r.startedAt }]
        })
        const report = yield* checkInvariants(system, { settledBefore: Date.now(), crashes })
        console.log(formatReport(report))
        console.log("states", yield* system.stateCounts)
        console.log(
          `figures: users ${users} (+${tally.recreated} re-created, ${tally.deleted} deleted), changes ${
            tally.zone + tally.birthday + tally.anniversary
          } (zone ${tally.zone}, birthday ${tally.birthday}, anniversary ${tally.anniversary}), kills ${kills.length}, acknowledged ${report.provider.acknowledged}, violations ${report.problems.length}`
        )

        expect(report.provider.acknowledgedTwice.count).toBe(0)
        expect(report.problems).toEqual([])
        expect(report.clean).toBe(true)
      }),
    900_000
  )
})
