import { Schema } from "effect"

/**
 * The JetStream message that asks a delivery worker to send one occurrence. Its `Nats-Msg-Id`
 * is the occurrence key; the Postgres ledger stays the authority on what was sent.
 */
export class DeliveryCommand extends Schema.Class<DeliveryCommand>("DeliveryCommand")({
  key: Schema.String,
  kind: Schema.String,
  userId: Schema.String,
  year: Schema.Number,
  dueAt: Schema.DateTimeUtc,
  deadlineAt: Schema.DateTimeUtc
}) {}
