import { type DeliveryCommand, encodeDeliveryCommand } from "@birthday/domain"
import { Headers, HttpTraceContext } from "@effect/platform"
import { Option, type Tracer } from "effect"
import type { MsgHdrs } from "nats"

/** The remote parent span carried by a message's headers, if any. */
export const parentSpan = (headers: MsgHdrs | undefined): Option.Option<Tracer.ExternalSpan> => {
  if (headers === undefined) return Option.none()
  const record: Record<string, string> = {}
  // `get` of a missing header returns "" (not undefined), so only present keys are read.
  for (const key of headers.keys()) {
    const value = headers.get(key)
    if (value !== "") record[key.toLowerCase()] = value
  }
  return HttpTraceContext.fromHeaders(Headers.fromInput(record))
}

const encoder = new TextEncoder()

/** The JetStream payload of a command. */
export const commandPayload = (command: DeliveryCommand): Uint8Array =>
  encoder.encode(JSON.stringify(encodeDeliveryCommand(command)))
