import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

/** Whether stderr is a terminal: a redrawn progress bar there, plain lines otherwise. */
export class Interactive extends Context.Reference<Interactive>()("@birthday/cli/Interactive", {
  defaultValue: () => false
}) {}

const barWidth = 24
const plainEveryMs = 2_000
const redrawEveryMs = 100

const clock = (seconds: number): string => {
  const whole = Math.max(0, Math.round(seconds))
  const minutes = Math.floor(whole / 60)
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`
}

/** `rows`, rows/s and, when the file size is known, percent done and ETA. */
const describe = (rows: number, fraction: number, elapsedMs: number) => {
  const rate = elapsedMs > 0 ? rows / (elapsedMs / 1000) : 0
  const eta = fraction > 0 ? (elapsedMs / 1000) * (1 - fraction) / fraction : 0
  return {
    percent: `${Math.floor(fraction * 100)}%`.padStart(4),
    text: `${rows.toLocaleString("en-US")} rows  ${Math.round(rate).toLocaleString("en-US")} rows/s  ETA ${clock(eta)}`
  }
}

/** Reports import progress on stderr: a bar redrawn in place on a TTY, a line every 2 s otherwise. */
export const makeImportProgress = (totalChars: number) =>
  Effect.gen(function*() {
    const interactive = yield* Interactive
    const startedAt = yield* Clock.currentTimeMillis
    const state = yield* Ref.make({ rows: 0, chars: 0, shownAt: startedAt })

    const show = (rows: number, chars: number, now: number) => {
      const fraction = totalChars > 0 ? Math.min(1, chars / totalChars) : 0
      const { percent, text } = describe(rows, fraction, now - startedAt)
      if (!interactive) return Console.error(`import: ${percent.trim()} ${text}`)
      const filled = Math.round(fraction * barWidth)
      const bar = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`
      return Effect.sync(() => process.stderr.write(`\r${bar} ${percent} ${text}\u001b[K`))
    }

    const advance = (rows: number, chars: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const current = yield* Ref.updateAndGet(state, (s) => ({ ...s, rows: s.rows + rows, chars: s.chars + chars }))
        if (now - current.shownAt < (interactive ? redrawEveryMs : plainEveryMs)) return
        yield* Ref.update(state, (s) => ({ ...s, shownAt: now }))
        yield* show(current.rows, current.chars, now)
      })

    const finish = Effect.gen(function*() {
      const current = yield* Ref.get(state)
      if (interactive) {
        yield* show(current.rows, totalChars, yield* Clock.currentTimeMillis)
        yield* Effect.sync(() => process.stderr.write("\n"))
      }
      return { rows: current.rows, elapsedMs: (yield* Clock.currentTimeMillis) - startedAt }
    })

    return { advance, finish } as const
  })
