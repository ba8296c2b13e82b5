/**
 * Greetings due seconds ahead through the real API: the send time is configured per kind at
 * minute granularity (`BIRTHDAY_SEND_TIME`, `ANNIVERSARY_SEND_TIME`), so a plan picks the first
 * whole UTC minute at least `leadMs` ahead and users whose anchor falls on that date in a zone
 * that is UTC+0 all year. Give `env` to every process (server and runners) at start.
 */

/** Zones at UTC+0 all year, so users in any of them are due at the same instant. */
export const utcZones: ReadonlyArray<string> = ["UTC", "Etc/UTC", "Africa/Abidjan", "Atlantic/Reykjavik"]

/** A due instant and how to make users due at it. */
export interface DuePlan {
  /** Epoch ms of the greetings' due instant. */
  readonly dueAt: number
  /** `HH:MM` (UTC). */
  readonly sendTime: string
  /** `MM-DD` of the due instant in UTC. */
  readonly monthDay: string
  /** The send time for both kinds, for every process's environment. */
  readonly env: Record<string, string>
  /** An anchor date (birthday or anniversary) in `year` that falls due at `dueAt`. */
  readonly anchor: (year?: number) => string
}

const pad = (n: number) => String(n).padStart(2, "0")

/** The first whole UTC minute at least `leadMs` after `now` (wall clock unless given). */
export const dueSoon = (leadMs: number, now: number = Date.now()): DuePlan => {
  const dueAt = Math.ceil((now + leadMs) / 60_000) * 60_000
  const at = new Date(dueAt)
  const sendTime = `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}`
  const monthDay = `${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`
  return {
    dueAt,
    sendTime,
    monthDay,
    env: { BIRTHDAY_SEND_TIME: sendTime, ANNIVERSARY_SEND_TIME: sendTime },
    // Feb 29 only exists in leap years; 1988 and 2000 are both.
    anchor: (year = monthDay === "02-29" ? 1988 : 1990) => `${year}-${monthDay}`
  }
}
