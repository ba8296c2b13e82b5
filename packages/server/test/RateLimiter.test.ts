import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { callerKey } from "../src/RateLimiter.js"

const anonymous = (address: string | undefined) => callerKey(Option.none(), Option.fromNullable(address))

describe("RateLimiter.callerKey", () => {
  it("groups IPv6 addresses by /64, however they are spelled, as ConnectionGuard does", () => {
    const oneHost = [
      "2001:db8:1:2::1",
      "2001:db8:1:2:ffff:ffff:ffff:fffe",
      "2001:0db8:0001:0002:dead:beef:0:1",
      "2001:DB8:1:2:a::b"
    ]
    expect(new Set(oneHost.map(anonymous))).toEqual(new Set(["a:2001:db8:1:2::/64"]))
    expect(anonymous("2001:db8:1:3::1")).not.toBe(anonymous("2001:db8:1:2::1"))
    expect(anonymous("::1")).toBe("a:0:0:0:0::/64")
  })

  it("keeps IPv4 addresses apart, also when mapped into IPv6", () => {
    expect(anonymous("192.0.2.1")).toBe("a:192.0.2.1")
    expect(anonymous("::ffff:192.0.2.1")).toBe("a:192.0.2.1")
    expect(anonymous("192.0.2.2")).not.toBe(anonymous("192.0.2.1"))
    expect(anonymous(undefined)).toBe("a:unknown")
  })

  it("keys an authenticated caller by principal, wherever it connects from", () => {
    expect(callerKey(Option.some("ops"), Option.some("2001:db8::1"))).toBe("p:ops")
    expect(callerKey(Option.some("ops"), Option.some("192.0.2.1"))).toBe("p:ops")
  })
})
