import type { UserInputJson } from "@birthday/domain"
import { randomUUID } from "node:crypto"

/** A valid user body with a unique email; override any field. */
export const userInput = (overrides: Partial<Record<keyof UserInputJson, unknown>> = {}): UserInputJson =>
  ({
    firstName: "Ada",
    lastName: "Lovelace",
    email: `ada-${randomUUID()}@example.com`,
    birthday: "1990-04-17",
    timeZone: "Europe/London",
    ...overrides
  }) as UserInputJson
