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

/**
 * The wire form of a command, field by field: the schema's encoded type, without a schema walk per
 * message (a burst publishes a hundred thousand at once). A test holds it equal to the schema's encoding.
 */
export const encodeDeliveryCommand = (command: DeliveryCommand): typeof DeliveryCommand.Encoded => ({
  key: command.key,
  kind: command.kind,
  userId: command.userId,
  year: command.year,
  dueAt: new Date(command.dueAt.epochMillis).toISOString(),
  deadlineAt: new Date(command.deadlineAt.epochMillis).toISOString()
})
