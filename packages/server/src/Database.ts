/** Moved to `@birthday/ledger` (the one home of the occurrence ledger); kept for existing imports. */
export * from "@birthday/ledger/Database"
