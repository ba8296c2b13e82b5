import { expect, it } from "@effect/vitest"
import { Effect } from "effect"

it.effect("workspace runs effect tests", () => Effect.sync(() => expect(1 + 1).toBe(2)))
