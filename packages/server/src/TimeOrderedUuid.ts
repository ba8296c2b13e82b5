import { randomFillSync } from "node:crypto"

/**
 * UUIDv7 ids (RFC 9562: 48-bit Unix milliseconds, then random bits) for rows created in bulk.
 * Ids that grow with time land at the right edge of the btree indexes instead of on random pages,
 * which keeps a million-row import from thrashing the index pages in shared buffers.
 */
export const timeOrderedUuids = (count: number, now: number): Array<string> => {
  const random = randomFillSync(Buffer.alloc(count * 16))
  const ids: Array<string> = new Array(count)
  for (let i = 0; i < count; i++) {
    const bytes = random.subarray(i * 16, i * 16 + 16)
    bytes.writeUIntBE(now, 0, 6)
    bytes[6] = (bytes[6]! & 0x0f) | 0x70
    bytes[8] = (bytes[8]! & 0x3f) | 0x80
    const hex = bytes.toString("hex")
    ids[i] = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  }
  return ids
}
