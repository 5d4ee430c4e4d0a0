import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { compareEndpoints, type Endpoint, endpointProblem, formatEndpoint, isValidHost, parsePort, parseTarget, unmappedAddress } from "../src/domain/address.js"

describe("a target as the user types it", () => {
  it("takes host, host:port, [v6], [v6]:port and a bare IPv6 address", () => {
    expect(parseTarget(" 10.0.0.5 ", 8000)).toEqual(Either.right({ host: "10.0.0.5", port: 8000 }))
    expect(parseTarget("peer.example:9000", 8000)).toEqual(Either.right({ host: "peer.example", port: 9000 }))
    expect(parseTarget("[::1]", 7000)).toEqual(Either.right({ host: "::1", port: 7000 }))
    expect(parseTarget("[fe80::1%eth0]:9000", 8000)).toEqual(Either.right({ host: "fe80::1%eth0", port: 9000 }))
    expect(parseTarget("fe80::1%2", 8000)).toEqual(Either.right({ host: "fe80::1%2", port: 8000 }))
    // 0fe8:: is no link-local address
    expect(parseTarget("[fe8::1]:9000", 8000)).toEqual(Either.right({ host: "fe8::1", port: 9000 }))
    expect(parseTarget("2001:db8::7", 8000)).toEqual(Either.right({ host: "2001:db8::7", port: 8000 }))
  })

  const refused: Array<[string, string]> = [
    ["", "The target address is empty; give it as ip[:port]."],
    // was: "//10.0.0.5:9000" is not a port
    ["http://10.0.0.5:9000/", '"http://10.0.0.5:9000/" is a URL; give the peer\'s address alone, as ip[:port] (10.0.0.5:9000).'],
    ["tcp://[::1]:9000", '"tcp://[::1]:9000" is a URL; give the peer\'s address alone, as ip[:port] ([::1]:9000).'],
    // was: "" is neither an IP address nor a host name
    [":9000", '":9000" names no host; give it as ip[:port].'],
    ["10.0.0.5:", '"" is not a port: give a whole number from 1 to 65535.'],
    ["10.0.0.5:0", '"0" is not a port: give a whole number from 1 to 65535.'],
    // numbers that JavaScript reads as 80, each a typo or a guess rather than a port
    ["10.0.0.5:0x50", '"0x50" is not a port: give a whole number from 1 to 65535.'],
    ["10.0.0.5:8e1", '"8e1" is not a port: give a whole number from 1 to 65535.'],
    ["10.0.0.5:80.0", '"80.0" is not a port: give a whole number from 1 to 65535.'],
    ["10.0.0.5:+80", '"+80" is not a port: give a whole number from 1 to 65535.'],
    ["10.0.0.5:8 0", '"8 0" is not a port: give a whole number from 1 to 65535.'],
    ["1:2:3", '"1:2:3" is not an address: write IPv6 addresses with a port as [addr]:port.'],
    ["[10.0.0.5]:80", '"10.0.0.5" in brackets is not an IPv6 address.'],
    ["no such host!", '"no such host!" is neither an IP address nor a host name.'],
    // digits and dots are an IPv4 address or nothing: it was taken for a host name that then did not resolve
    ["999.1.1.1", '"999.1.1.1" is neither an IP address nor a host name.'],
    ["10.0.0", '"10.0.0" is neither an IP address nor a host name.'],
    // it connected to this machine
    ["0.0.0.0:9000", "0.0.0.0 stands for every address of a machine (for -i), not for a peer; give the peer's address."],
    ["[::]", ":: stands for every address of a machine (for -i), not for a peer; give the peer's address."],
    // connecting failed with node's "connect EINVAL fe80::1:8000 - Local (:::0)"
    ["[fe80::1]:9000", "fe80::1 is a link-local address, reached only through the interface it is on: name it after a %, as [fe80::1%eth0]:9000."],
    ["FEBF::2", "FEBF::2 is a link-local address, reached only through the interface it is on: name it after a %, as [FEBF::2%eth0]:8000."]
  ]
  for (const [text, sentence] of refused)
    it(`refuses ${JSON.stringify(text)} with a sentence`, () => {
      expect(parseTarget(text, 8000)).toEqual(Either.left(sentence))
    })
})

describe("a port as the user types it", () => {
  it("is decimal digits: leading zeros are read past, up to nine digits in all", () => {
    expect(parsePort("08000")).toBe(8000)
    expect(parsePort("000008000")).toBe(8000)
    expect(parsePort("0000008000")).toBeUndefined()
    expect(parsePort("65535")).toBe(65535)
    expect(parsePort("65536")).toBeUndefined()
  })
})

describe("an endpoint as it is shown", () => {
  it("an IPv6 address in brackets before its port, written out in full or shortened; others as host:port", () => {
    expect(formatEndpoint({ host: "2001:db8:1:2:3:4:5:6", port: 80 })).toBe("[2001:db8:1:2:3:4:5:6]:80")
    expect(formatEndpoint({ host: "fe80::1%eth0", port: 9000 })).toBe("[fe80::1%eth0]:9000")
    expect(formatEndpoint({ host: "10.0.0.5", port: 8000 })).toBe("10.0.0.5:8000")
    expect(formatEndpoint({ host: "peer.example", port: 8000 })).toBe("peer.example:8000")
  })
})

describe("an endpoint a library caller built by hand", () => {
  it("is refused, by name, for a host that is not a string or a port out of range (0 only for listening)", () => {
    const hostless = { host: undefined, port: 8000 } as unknown as Endpoint
    expect(endpointProblem("target", hostless, false)).toBe("target.host must be a string, not undefined")
    expect(endpointProblem("listen", { host: null, port: 8000 } as unknown as Endpoint, true)).toBe("listen.host must be a string, not null")
    expect(endpointProblem("listen", { host: "127.0.0.1", port: 0 }, true)).toBeUndefined()
    expect(endpointProblem("target", { host: "127.0.0.1", port: 0 }, false)).toBe("target.port 0 is not a port: give a whole number from 1 to 65535")
    expect(endpointProblem("listen", { host: "127.0.0.1", port: 65536 }, true)).toBe(
      "listen.port 65536 is not a port: give a whole number from 0 (any free port) to 65535"
    )
  })
})

describe("a peer's address as node gives it", () => {
  it("an IPv4-mapped IPv6 address is the IPv4 address; every other address stays as it is", () => {
    expect(unmappedAddress("::ffff:192.168.1.5")).toBe("192.168.1.5")
    expect(unmappedAddress("::FFFF:10.0.0.1")).toBe("10.0.0.1")
    for (const other of ["::1", "192.168.1.5", "fe80::1%eth0", "::ffff:c0a8:105", "2001:db8::ffff:1.2.3.4", "::ffff:1.2.3"])
      expect(unmappedAddress(other)).toBe(other)
  })
})

describe("host names", () => {
  it("a label has at most 63 characters and a name at most 253 (RFC 1123), a trailing dot allowed", () => {
    const label = (n: number) => "a".repeat(n)
    expect(isValidHost(`${label(63)}.example`)).toBe(true)
    expect(isValidHost(`${label(64)}.example`)).toBe(false)
    expect(isValidHost(`example.${label(64)}`)).toBe(false)
    // 4 labels of 63 and their dots: 255 characters; one cut to 61 makes 253
    const name = (last: number) => [label(63), label(63), label(63), label(last)].join(".")
    expect(name(61)).toHaveLength(253)
    expect(isValidHost(name(61))).toBe(true)
    expect(isValidHost(name(62))).toBe(false)
    expect(isValidHost("peer.example.")).toBe(true)
    for (const bad of ["-peer.example", "peer-.example", "peer..example", "peer_1.example", ""]) expect(isValidHost(bad)).toBe(false)
  })
})

describe("auto mode's tie-break between two endpoints", () => {
  const endpoint = fc.record({
    host: fc.constantFrom("10.0.0.5", "10.0.0.6", "peer.example", "Peer.Example", "PEER.example", "::1"),
    port: fc.constantFrom(7000, 8000, 8001)
  })
  const sign = (n: number) => Math.sign(n)

  it("both peers, each comparing its own endpoint with the other's, agree on which is lower", () => {
    fc.assert(
      fc.property(endpoint, endpoint, (a: Endpoint, b: Endpoint) => {
        expect(sign(compareEndpoints(a, b)) + sign(compareEndpoints(b, a))).toBe(0)
      })
    )
  })

  it("orders by port first, then by host name without regard to case (one peer may write it in capitals)", () => {
    expect(compareEndpoints({ host: "10.0.0.9", port: 7000 }, { host: "10.0.0.1", port: 8000 })).toBe(-1)
    expect(compareEndpoints({ host: "10.0.0.1", port: 8000 }, { host: "10.0.0.9", port: 8000 })).toBe(-1)
    expect(compareEndpoints({ host: "Peer.Example", port: 8000 }, { host: "peer.example", port: 8000 })).toBe(0)
    expect(compareEndpoints({ host: "B.example", port: 8000 }, { host: "a.example", port: 8000 })).toBe(1)
  })
})
