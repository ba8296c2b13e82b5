import { DateTime, Schema } from "effect"

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
  deadlineAt: Schema.DateTimeUtc,
  /**
   * The ledger row's command generation when this was published (docs/ledger.md): a worker claims
   * only a row still at this version. Absent on commands published before versions existed.
   */
  version: Schema.optional(Schema.Number)
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
  deadlineAt: new Date(command.deadlineAt.epochMillis).toISOString(),
  ...(command.version === undefined ? {} : { version: command.version })
})

/** The columns of a ledger row that a command carries, as Postgres returns them. */
export interface DeliveryCommandRow {
  readonly key: string
  readonly kind: string
  readonly user_id: string
  readonly year: number
  readonly due_at: Date
  readonly deadline_at: Date
  /** Postgres returns `bigint` as a string. */
  readonly version?: string | number | undefined
}

/** The command that asks a worker to send a ledger row (a retry sweep's or a replay's republish). */
export const deliveryCommandOfRow = (row: DeliveryCommandRow): DeliveryCommand =>
  DeliveryCommand.make({
    key: row.key,
    kind: row.kind,
    userId: row.user_id,
    year: row.year,
    dueAt: DateTime.unsafeFromDate(row.due_at),
    deadlineAt: DateTime.unsafeFromDate(row.deadline_at),
    ...(row.version === undefined ? {} : { version: Number(row.version) })
  })
