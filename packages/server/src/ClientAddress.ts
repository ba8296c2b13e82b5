/**
 * The address a client counts under, for its connections (ConnectionGuard) and its rate limit
 * (RateLimiter): an IPv4 address (also when mapped into IPv6), or an IPv6 /64 — a single host is
 * usually given a whole /64, and would otherwise have 2^64 addresses to spread its connections
 * and requests over.
 */
export const addressKey = (address: string | undefined): string => {
  if (address === undefined) return "unknown"
  if (!address.includes(":")) return address
  if (address.startsWith("::ffff:") && address.includes(".")) return address.slice(7)
  const [head = "", tail] = address.split("::", 2)
  const left = head === "" ? [] : head.split(":")
  const right = tail === undefined || tail === "" ? [] : tail.split(":")
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
  return `${groups.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(":")}::/64`
}
