import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer } from "effect"
import { OccasionKindName, occasionKindNames, occasionKinds } from "../src/OccasionKind.js"
import { renderMessage } from "../src/OccasionMessage.js"
import {
  formatLocalTime,
  occasionDefaults,
  occasionKindsConfig,
  OccasionSettings,
  parseLocalTime
} from "../src/OccasionSettings.js"

const fromEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(occasionKindsConfig, ConfigProvider.fromMap(new Map(Object.entries(env))))

const failureOf = (env: Record<string, string>) => Effect.flip(fromEnv(env)).pipe(Effect.map(String))

describe("OccasionSettings", () => {
  it.effect("defaults: 09:00, 48 hours, Feb 28, for every kind", () =>
    Effect.gen(function*() {
      const kinds = yield* fromEnv({})
      expect(kinds.all.map((kind) => kind.name)).toEqual(["birthday", "anniversary"])
      for (const kind of kinds.all) {
        expect(formatLocalTime(kind.sendTime)).toBe("09:00")
        expect(Duration.toHours(kind.lateWindow)).toBe(48)
        expect(kind.feb29).toBe("feb28")
        expect(kind).toEqual({ ...occasionKinds[kind.name], ...occasionDefaults[kind.name] })
      }
    }))

  it.effect("reads each kind's settings from its own variables", () =>
    Effect.gen(function*() {
      const { byName } = yield* fromEnv({
        BIRTHDAY_SEND_TIME: "07:30",
        BIRTHDAY_LATE_WINDOW: "30 minutes",
        ANNIVERSARY_FEB29: "mar1",
        ANNIVERSARY_LATE_WINDOW: "72 hours"
      })
      expect(byName.birthday.sendTime).toEqual({ hour: 7, minute: 30 })
      expect(Duration.toMinutes(byName.birthday.lateWindow)).toBe(30)
      expect(byName.birthday.feb29).toBe("feb28")
      expect(byName.anniversary.feb29).toBe("mar1")
      expect(Duration.toHours(byName.anniversary.lateWindow)).toBe(72)
      expect(formatLocalTime(byName.anniversary.sendTime)).toBe("09:00")
    }))

  it.effect("rejects bad values with a message naming the variable", () =>
    Effect.gen(function*() {
      const sendTime = yield* failureOf({ BIRTHDAY_SEND_TIME: "25:00" })
      expect(sendTime).toContain("BIRTHDAY_SEND_TIME")
      expect(sendTime).toContain("HH:MM")
      expect(yield* failureOf({ ANNIVERSARY_FEB29: "feb30" })).toContain("ANNIVERSARY_FEB29")
      expect(yield* failureOf({ BIRTHDAY_LATE_WINDOW: "soon" })).toContain("BIRTHDAY_LATE_WINDOW")
    }))

  it("parses only 24-hour HH:MM", () => {
    expect(parseLocalTime("00:00")).toEqual(Either.right({ hour: 0, minute: 0 }))
    expect(parseLocalTime(" 23:59 ")).toEqual(Either.right({ hour: 23, minute: 59 }))
    for (const bad of ["24:00", "9:00", "09:60", "0900", "09:00:00", ""]) {
      expect(Either.isLeft(parseLocalTime(bad))).toBe(true)
    }
  })

  it.effect("layer reads configuration", () =>
    Effect.gen(function*() {
      const { byName } = yield* OccasionSettings
      expect(byName.birthday.sendTime).toEqual({ hour: 6, minute: 15 })
    }).pipe(
      Effect.provide(
        OccasionSettings.layer.pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["BIRTHDAY_SEND_TIME", "06:15"]]))))
        )
      )
    ))

  it.effect("layerWith overrides the defaults without configuration", () =>
    Effect.gen(function*() {
      const { all, byName } = yield* OccasionSettings
      expect(byName.birthday.sendTime).toEqual({ hour: 2, minute: 30 })
      expect(byName.anniversary).toEqual(occasionKinds.anniversary)
      expect(all).toEqual([byName.birthday, byName.anniversary])
    }).pipe(Effect.provide(OccasionSettings.layerWith({ birthday: { sendTime: { hour: 2, minute: 30 } } }))))
})

describe("occasion kinds and messages", () => {
  const ada = { firstName: "Ada", lastName: "Lovelace" }

  it("renders the exact texts", () => {
    expect(renderMessage(occasionKinds.birthday, ada)).toBe("Hey, Ada Lovelace it's your birthday")
    expect(renderMessage(occasionKinds.anniversary, ada)).toBe("Hey, Ada Lovelace happy anniversary!")
  })

  it("inserts names literally, even ones that look like replacement patterns", () => {
    expect(renderMessage(occasionKinds.birthday, { firstName: "$&", lastName: "$1" })).toBe(
      "Hey, $& $1 it's your birthday"
    )
  })

  it("each kind anchors on its own field and names stay in sync with the schema", () => {
    expect(occasionKindNames).toEqual(["birthday", "anniversary"])
    for (const name of occasionKindNames) {
      expect(occasionKinds[name].anchor).toBe(name)
      expect(OccasionKindName.literals).toContain(name)
    }
  })
})
