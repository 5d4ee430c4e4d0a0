import { describe, expect, it } from "vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import { bannerHint, type Config, defaultIp, interfaceAddress, interfaceOnThisMachine, listenHint, peerCommand, type RawFlags, resolveConfig, sameMachineHint, unusedHint, withZone } from "../src/cli/config.js"
import { UsageError } from "../src/domain/errors.js"
import { routeAddress } from "../src/layers/NodeAddresses.js"

const config = (mode: Config["mode"], listen: string, target: string | undefined): Config => ({
  listen: { host: listen, port: 9001 },
  target: target === undefined ? undefined : { host: target, port: 9002 },
  mode,
  tls: undefined,
  protocol: "v2",
  json: false,
  waitSeconds: 10,
  handshakeTimeoutSeconds: 5,
  heartbeatSeconds: 5,
  stay: false
})

/** The flags as @effect/cli gives them with nothing on the command line, and `given` on it. */
const rawFlags = (given: Partial<RawFlags>): RawFlags => ({
  ip: Option.none(),
  port: "8000",
  target: Option.none(),
  remote: "8000",
  mode: "0",
  key: Option.none(),
  cert: Option.none(),
  protocol: "v2",
  json: true,
  wait: "10",
  handshakeTimeout: "5",
  heartbeat: "5",
  stay: false,
  ...given
})

/** The Config of `base` and `given` on the command line, nobody asked for a target. */
const resolving = (base: Partial<RawFlags>) => (given: Partial<RawFlags>) =>
  Effect.runPromise(resolveConfig(rawFlags({ ...base, ...given }), Option.none()))

describe("the hint for two p2pchats on one machine", () => {
  it("is given in auto mode when the peer is on loopback and this side listens on another address only", () => {
    // both sides kept trying for good, silently: each listened on the host's address, each named the other 127.0.0.1
    expect(sameMachineHint(config("auto", "192.0.2.2", "127.0.0.1"))).toBe(
      "The peer is on this machine (127.0.0.1:9002), and this side listens on 192.0.2.2 only: if the peer names this side as 127.0.0.1 too, give both sides -i 127.0.0.1."
    )
    expect(sameMachineHint(config("auto", "192.0.2.2", "localhost"))).toMatch(/give both sides -i 127\.0\.0\.1\.$/)
    expect(sameMachineHint(config("auto", "2001:db8::2", "::1"))).toMatch(/\(\[::1\]:9002\).*give both sides -i ::1\.$/)
  })

  it("is not given where the two can meet, or where this side does not listen", () => {
    expect(sameMachineHint(config("auto", "127.0.0.1", "127.0.0.1"))).toBeUndefined()
    expect(sameMachineHint(config("auto", "0.0.0.0", "127.0.0.1"))).toBeUndefined()
    expect(sameMachineHint(config("auto", "::", "::1"))).toBeUndefined()
    expect(sameMachineHint(config("auto", "192.0.2.2", "192.0.2.7"))).toBeUndefined()
    expect(sameMachineHint(config("client", "192.0.2.2", "127.0.0.1"))).toBeUndefined()
    expect(sameMachineHint(config("server", "192.0.2.2", undefined))).toBeUndefined()
  })
})

describe("server mode given a -t (chat.py's users pass one with every mode)", () => {
  it("says it is not used (it was taken without a word), and not in the other modes", async () => {
    const resolve = resolving({ ip: Option.some("127.0.0.1") })
    const server = await resolve({ mode: "2", target: Option.some("10.0.0.5:9000") })
    expect(server.target).toBeUndefined()
    expect(unusedHint(server)).toBe("-t 10.0.0.5:9000 is not used in server mode (-m 2), which only listens: the peer connects to this side.")
    expect(unusedHint(await resolve({ mode: "2" }))).toBeUndefined()
    // -r, the peer's port, too; named only where it is not the default
    expect(unusedHint(await resolve({ mode: "2", target: Option.some("10.0.0.5"), remote: "9001" }))).toBe(
      "-t 10.0.0.5 and -r 9001 are not used in server mode (-m 2), which only listens: the peer connects to this side."
    )
    expect(unusedHint(await resolve({ mode: "2", remote: "9001" }))).toBe("-r 9001 is not used in server mode (-m 2), which only listens: the peer connects to this side.")
    expect(unusedHint(await resolve({ mode: "2", remote: "8000" }))).toBeUndefined()
    // in client mode the target is used (the -i given is not, and said so)
    expect(unusedHint(await resolve({ mode: "1", target: Option.some("10.0.0.5:9000") }))).not.toContain("-t")
  })
})

describe("client mode given what only a listener uses (-i, -p, -k/-c)", () => {
  const resolve = resolving({ mode: "1", target: Option.some("127.0.0.1:9000") })
  const keyAndCert = { key: Option.some("k.pem"), cert: Option.some("c.pem") }

  it("says they are not used (they were taken without a word), as typed", async () => {
    expect(unusedHint(await resolve({ ip: Option.some("127.0.0.1") }))).toBe(
      "-i 127.0.0.1 is not used in client mode (-m 1), which only connects: this side does not listen."
    )
    expect(unusedHint(await resolve({ port: "9001" }))).toBe("-p 9001 is not used in client mode (-m 1), which only connects: this side does not listen.")
    expect(unusedHint(await resolve({ ip: Option.some("127.0.0.1"), port: "0" }))).toBe(
      "-i 127.0.0.1 and -p 0 are not used in client mode (-m 1), which only connects: this side does not listen."
    )
    expect(unusedHint(await resolve({ ...keyAndCert }))).toBe(
      "-k/-c is not used in client mode (-m 1), which only connects: this side neither listens nor presents a TLS certificate."
    )
    expect(unusedHint(await resolve({ ip: Option.some("127.0.0.1"), port: "9001", ...keyAndCert }))).toBe(
      "-i 127.0.0.1, -p 9001 and -k/-c are not used in client mode (-m 1), which only connects: this side neither listens nor presents a TLS certificate."
    )
  })

  it("says nothing of the default port, nor in the modes that listen", async () => {
    expect(unusedHint(await resolve({}))).toBeUndefined()
    expect(unusedHint(await resolve({ port: "8000" }))).toBeUndefined()
    const listening = { ip: Option.some("127.0.0.1"), port: "9001", ...keyAndCert }
    expect(unusedHint(await resolve({ mode: "0", ...listening }))).toBeUndefined()
    // server mode names only its unused -t
    expect(unusedHint(await resolve({ mode: "2", ...listening }))).toBe(
      "-t 127.0.0.1:9000 is not used in server mode (-m 2), which only listens: the peer connects to this side."
    )
  })
})

describe("an -r given where the target names another port", () => {
  const resolve = resolving({ ip: Option.some("127.0.0.1") })

  it("is said not to be used, in the modes that connect (the target's own port was taken without a word)", async () => {
    for (const mode of ["0", "1"]) {
      const config = await resolve({ mode, target: Option.some("127.0.0.1:9000"), remote: "9001" })
      expect(config.target?.port).toBe(9000)
      expect(unusedHint(config)).toMatch(/-r 9001 is not used: the target, 127\.0\.0\.1:9000, names its own port\.$/)
    }
    expect(unusedHint(await resolve({ mode: "0", target: Option.some("[::1]:9000"), remote: "9001" }))).toBe(
      "-r 9001 is not used: the target, [::1]:9000, names its own port."
    )
    // after what client mode does not use, as a second sentence
    expect(unusedHint(await resolve({ mode: "1", target: Option.some("127.0.0.1:9000"), remote: "9001" }))).toBe(
      "-i 127.0.0.1 is not used in client mode (-m 1), which only connects: this side does not listen. -r 9001 is not used: the target, 127.0.0.1:9000, names its own port."
    )
  })

  it("is not said where it is the port used, or the default", async () => {
    expect(unusedHint(await resolve({ mode: "0", target: Option.some("127.0.0.1"), remote: "9001" }))).toBeUndefined()
    expect(unusedHint(await resolve({ mode: "0", target: Option.some("127.0.0.1:9001"), remote: "9001" }))).toBeUndefined()
    expect(unusedHint(await resolve({ mode: "0", target: Option.some("127.0.0.1:9000"), remote: "8000" }))).toBeUndefined()
  })
})

describe("a --wait given where nothing gives up (auto and server mode)", () => {
  const resolve = resolving({ ip: Option.some("127.0.0.1"), target: Option.some("127.0.0.1:9000") })

  it("is said not to be used, as typed (auto mode tries on for good, whatever it says)", async () => {
    expect(unusedHint(await resolve({ mode: "0", wait: "30" }))).toBe(
      "--wait 30 is not used in auto mode (-m 0), which tries on until a chat starts (client mode, -m 1, gives up after it)."
    )
    // 1e1 is the default, 10, however written
    expect(unusedHint(await resolve({ mode: "0", wait: "1e1" }))).toBeUndefined()
    expect(unusedHint(await resolve({ mode: "2", wait: "5e-1" }))).toBe(
      "-t 127.0.0.1:9000 and --wait 5e-1 are not used in server mode (-m 2), which only listens: the peer connects to this side."
    )
  })

  it("is used in client mode, and the default is not named", async () => {
    expect(unusedHint(await resolve({ mode: "1", wait: "30" }))).not.toContain("--wait")
    expect(unusedHint(await resolve({ mode: "0", wait: "10" }))).toBeUndefined()
  })
})

describe("a --heartbeat given with the seed protocol, whose wire has none", () => {
  const resolve = resolving({ ip: Option.some("127.0.0.1"), target: Option.some("127.0.0.1:9000") })

  it("is said not to be used, as typed, after what the mode does not use", async () => {
    expect(unusedHint(await resolve({ protocol: "seed", heartbeat: "30" }))).toBe(
      "--heartbeat 30 is not used with --protocol seed: chat.py's wire protocol has no heartbeat."
    )
    expect(unusedHint(await resolve({ protocol: "seed", heartbeat: "0" }))).toBe(
      "--heartbeat 0 is not used with --protocol seed: chat.py's wire protocol has no heartbeat."
    )
    expect(unusedHint(await resolve({ protocol: "seed", heartbeat: "6e1", mode: "1", target: Option.some("127.0.0.1:9000"), remote: "9001" }))).toBe(
      "-i 127.0.0.1 is not used in client mode (-m 1), which only connects: this side does not listen. -r 9001 is not used: the target, 127.0.0.1:9000, names its own port. --heartbeat 6e1 is not used with --protocol seed: chat.py's wire protocol has no heartbeat."
    )
  })

  it("is not said with v2, nor at its default", async () => {
    expect(unusedHint(await resolve({ protocol: "v2", heartbeat: "30" }))).toBeUndefined()
    expect(unusedHint(await resolve({ protocol: "seed", heartbeat: "5" }))).toBeUndefined()
  })
})

describe("the banner's hint", () => {
  it("says every one that applies, and is none where none does", () => {
    const both = { ...config("auto", "192.0.2.2", "127.0.0.1"), unusedRemote: 9001 }
    expect(bannerHint(both)).toBe(`${sameMachineHint(both)} ${unusedHint(both)}`)
    expect(bannerHint(both)).toMatch(/give both sides -i 127\.0\.0\.1\. -r 9001 is not used: the target, 127\.0\.0\.1:9002, names its own port\.$/)
    expect(bannerHint(config("auto", "192.0.2.2", "127.0.0.1"))).toBe(sameMachineHint(config("auto", "192.0.2.2", "127.0.0.1")))
    expect(bannerHint({ ...config("auto", "127.0.0.1", "127.0.0.1"), unusedRemote: 9001 })).toBe("-r 9001 is not used: the target, 127.0.0.1:9002, names its own port.")
    expect(bannerHint(config("auto", "127.0.0.1", "127.0.0.1"))).toBeUndefined()
  })
})

describe("the default -i: the address this host reaches the target from", () => {
  it("is loopback for a peer on this machine, by address or name, in either family", async () => {
    const route = (host: string) => Effect.runPromise(routeAddress({ host, port: 9 }))
    expect(await route("127.0.0.1")).toBe("127.0.0.1")
    expect(await route("127.0.0.5")).toMatch(/^127\./)
    expect(await route("localhost")).toBe("127.0.0.1")
    expect(await route("::1")).toBe("::1")
  })

  it("is none for a name that does not resolve (the first non-internal IPv4 is taken then; it was 0.0.0.0)", async () => {
    expect(await Effect.runPromise(routeAddress({ host: "no-such-host.invalid", port: 9 }))).toBeUndefined()
  })
})

describe("a target that is this p2pchat itself (auto mode listens there too)", () => {
  const flags = (ip: string | undefined, target: string, mode = 0): RawFlags =>
    rawFlags({ ip: Option.fromNullable(ip), port: "9400", target: Option.some(target), mode: String(mode) })
  const problem = (f: RawFlags) =>
    Effect.runPromise(resolveConfig(f, Option.none()).pipe(Effect.match({ onFailure: (e) => e.detail, onSuccess: () => undefined })))

  it("is refused before any connection, by address or by a name that resolves to it", async () => {
    expect(await problem(flags("127.0.0.1", "127.0.0.1:9400"))).toBe(
      "-t/--target: 127.0.0.1:9400 is where this p2pchat listens (-i/-p), not a peer; give the peer's address (or another -p)."
    )
    // by name it connected to itself and failed 5 s later: "the peer did not complete the handshake in time"
    expect(await problem(flags("127.0.0.1", "localhost:9400"))).toMatch(/^-t\/--target: localhost:9400 \(127\.0\.0\.1\) is where this p2pchat listens/)
    expect(await problem(flags(undefined, "localhost:9400"))).toMatch(/localhost:9400 \(127\.0\.0\.1\) is where/)
    // listening on every address: loopback among them
    expect(await problem(flags("0.0.0.0", "localhost:9400"))).toMatch(/localhost:9400 \(127\.0\.0\.1\) is where/)
  })

  it("is refused anywhere on loopback when this side listens on every address", async () => {
    // 127.0.0.2 is no interface's address, yet a listener on 0.0.0.0 answers there: it reached itself, and said
    // that no p2pchat answered
    expect(await problem(flags("0.0.0.0", "127.0.0.2:9400"))).toBe(
      "-t/--target: 127.0.0.2:9400 is where this p2pchat listens (-i/-p), not a peer; give the peer's address (or another -p)."
    )
    expect(await problem(flags("::", "127.255.0.1:9400"))).toMatch(/^-t\/--target: 127\.255\.0\.1:9400 is where this p2pchat listens/)
    expect(await problem(flags("::", "[::1]:9400"))).toMatch(/^-t\/--target: \[::1\]:9400 is where this p2pchat listens/)
  })

  it("is not refused where it is not ourselves: another port, client mode, a name that does not resolve, another address of this host", async () => {
    expect(await problem(flags("127.0.0.1", "localhost:9401"))).toBeUndefined()
    expect(await problem(flags("127.0.0.1", "localhost:9400", 1))).toBeUndefined()
    expect(await problem(flags("127.0.0.1", "no-such-host.invalid:9400"))).toBeUndefined()
    // a listener on one address leaves the others to a peer on this machine
    expect(await problem(flags("127.0.0.1", "[::1]:9400"))).toBeUndefined()
    expect(await problem(flags("127.0.0.1", "127.0.0.2:9400"))).toBeUndefined()
  })
})

describe("-i with a link-local address (fe80::/10)", () => {
  // without its interface, listening failed with node's "listen EINVAL: invalid argument fe80::1:8000"
  it("gets the interface that has it, whatever the case it is written in; other addresses stay as they are", () => {
    const interfaces = { lo: [{ address: "::1" }, { address: "127.0.0.1" }], wlan0: [{ address: "192.0.2.9" }, { address: "fe80::1c2:3ff:fe04:506" }] }
    expect(withZone("fe80::1c2:3ff:fe04:506", interfaces)).toBe("fe80::1c2:3ff:fe04:506%wlan0")
    expect(withZone("FE80::1C2:3FF:FE04:506", interfaces)).toBe("FE80::1C2:3FF:FE04:506%wlan0")
    expect(withZone("fe80::1c2:3ff:fe04:506%eth1", interfaces)).toBe("fe80::1c2:3ff:fe04:506%eth1")
    expect(withZone("fe80::99", interfaces)).toBe("fe80::99")
    expect(withZone("192.0.2.9", interfaces)).toBe("192.0.2.9")
  })

  it("is what an interface's name stands for: its IPv4 address first, a link-local one with its name", () => {
    const v4 = (address: string) => ({ address, family: "IPv4" })
    const v6 = (address: string) => ({ address, family: "IPv6" })
    const interfaces = { eth0: [v6("fe80::1"), v6("2001:db8::5"), v4("192.0.2.5")], wg0: [v6("2001:db8::9"), v6("fe80::9")], usb0: [v6("fe80::7")], tun0: [] }
    expect(interfaceAddress("eth0", interfaces)).toBe("192.0.2.5")
    // an interface listed without an address stands for none: the name is left as given, for listening to refuse
    expect(interfaceAddress("tun0", interfaces)).toBe("tun0")
    expect(interfaceAddress("wg0", interfaces)).toBe("2001:db8::9")
    expect(interfaceAddress("usb0", interfaces)).toBe("fe80::7%usb0")
    // not a name: an address, given its interface where it is link-local
    expect(interfaceAddress("fe80::9", interfaces)).toBe("fe80::9%wg0")
    expect(interfaceAddress("192.0.2.77", interfaces)).toBe("192.0.2.77")
  })

  it("is refused in a sentence when no interface of this machine has it", async () => {
    const refused = await Effect.runPromise(
      resolveConfig(
        rawFlags({ ip: Option.some("fe80::99:99"), mode: "2" }),
        Option.none()
      ).pipe(Effect.flip)
    )
    expect(refused.detail).toBe("-i/--ip fe80::99:99 is a link-local address that no interface of this machine has.")
  })

  it("naming an interface that has no address (down) is refused in a sentence that says so, before listening", async () => {
    // this machine's interfaces with an address are node's list; wlan9 is one without (in /sys/class/net only),
    // and so, absurdly, is 127.0.0.1: an address is taken as an address
    const problem = (ip: string) =>
      Effect.runPromise(
        resolveConfig(rawFlags({ ip: Option.some(ip), mode: "2" }), Option.none(), (name) => name === "wlan9" || name === "127.0.0.1").pipe(
          Effect.match({ onFailure: (e) => e.detail, onSuccess: () => undefined })
        )
      )
    expect(await problem("wlan9")).toBe(
      "-i/--ip wlan9 is a network interface of this machine that has no address now (is it down, or not connected?)."
    )
    // another name is left for listening to judge, an address too
    expect(await problem("wlan8")).toBeUndefined()
    expect(await problem("127.0.0.1")).toBeUndefined()
  })

  it("an interface is on this machine where Linux lists it, with or without an address; nothing else is", () => {
    if (fs.existsSync("/sys/class/net")) {
      expect(interfaceOnThisMachine("lo")).toBe(true)
      // the list's own directory entries are no interfaces, nor is a path out of it
      for (const name of [".", "..", "../net", "lo/"]) expect(interfaceOnThisMachine(name)).toBe(false)
    }
    expect(interfaceOnThisMachine("no-such-interface9")).toBe(false)
    expect(interfaceOnThisMachine("")).toBe(false)
  })
})

describe("the default -i without a target", () => {
  const a = (address: string, family: "IPv4" | "IPv6", internal = false) => ({ address, family, internal })
  it("is the first non-internal IPv4 address, else a routable IPv6 one (an IPv6-only host listened on 127.0.0.1), else 127.0.0.1", () => {
    expect(defaultIp({ lo: [a("127.0.0.1", "IPv4", true)], eth0: [a("fe80::1", "IPv6"), a("2001:db8::5", "IPv6"), a("192.0.2.5", "IPv4")] })).toBe("192.0.2.5")
    expect(defaultIp({ lo: [a("127.0.0.1", "IPv4", true), a("::1", "IPv6", true)], eth0: [a("fe80::1", "IPv6"), a("2001:db8::5", "IPv6")] })).toBe("2001:db8::5")
    expect(defaultIp({ lo: [a("127.0.0.1", "IPv4", true)], eth0: [a("fe80::1", "IPv6")] })).toBe("127.0.0.1")
  })
})

describe("the command for the peer, said before the question for its address", () => {
  const a = (address: string, family: "IPv4" | "IPv6", internal = false) => ({ address, family, internal })
  const host = { lo: [a("127.0.0.1", "IPv4", true), a("::1", "IPv6", true)], eth0: [a("fe80::1", "IPv6"), a("2001:db8::5", "IPv6"), a("192.0.2.5", "IPv4")] }
  it("names this host's addresses that a peer can reach, IPv4 first, with the port where it is not the default", () => {
    expect(peerCommand(undefined, 8000, "v2", host)).toBe("Your peer runs: p2pchat -t 192.0.2.5 (or -t 2001:db8::5, whichever reaches this machine)")
    expect(peerCommand(undefined, 9000, "v2", host)).toBe("Your peer runs: p2pchat -t 192.0.2.5:9000 (or -t [2001:db8::5]:9000, whichever reaches this machine)")
    // -i: that address alone (a wildcard listens on all of them)
    expect(peerCommand("10.1.2.3", 8000, "v2", host)).toBe("Your peer runs: p2pchat -t 10.1.2.3")
    expect(peerCommand("::", 8000, "v2", host)).toBe(peerCommand(undefined, 8000, "v2", host))
    // 0.0.0.0 takes no IPv6 connection
    expect(peerCommand("0.0.0.0", 8000, "v2", host)).toBe("Your peer runs: p2pchat -t 192.0.2.5")
    // three at most
    const many = { eth0: [a("192.0.2.5", "IPv4"), a("192.0.2.6", "IPv4")], eth1: [a("198.51.100.7", "IPv4"), a("2001:db8::5", "IPv6")] }
    expect(peerCommand(undefined, 8000, "v2", many)).toBe("Your peer runs: p2pchat -t 192.0.2.5 (or -t 192.0.2.6, or -t 198.51.100.7, whichever reaches this machine)")
  })
  it("asks for the seed protocol where this side speaks it: the v2 peer a bare command starts fails its handshake", () => {
    expect(peerCommand(undefined, 9000, "seed", host)).toBe(
      "Your peer runs: p2pchat --protocol seed -t 192.0.2.5:9000 (or -t [2001:db8::5]:9000, whichever reaches this machine)"
    )
    expect(peerCommand("10.1.2.3", 8000, "seed", host)).toBe("Your peer runs: p2pchat --protocol seed -t 10.1.2.3")
    expect(peerCommand(undefined, 0, "seed", host)).toBeUndefined()
  })
  it("is not said where it would not help: a port not chosen yet (-p 0), a host with no address but loopback", () => {
    expect(peerCommand(undefined, 0, "v2", host)).toBeUndefined()
    expect(peerCommand(undefined, 8000, "v2", { lo: [a("127.0.0.1", "IPv4", true)], eth0: [a("fe80::1", "IPv6")] })).toBeUndefined()
  })
  it("is said to the question in auto mode, not in client mode (nobody reaches a client)", async () => {
    const asked = async (mode: number, protocol = "v2") => {
      const heard: Array<string | undefined> = []
      await Effect.runPromise(
        resolveConfig(
          rawFlags({ ip: Option.some("127.0.0.1"), port: "9400", target: Option.none(), mode: String(mode), protocol }),
          // answered once: asked again, the run fails at once (it looped for good on a bug that refused the answer)
          Option.some((_problem: string | undefined, command: string | undefined) =>
            heard.length === 0 ? Effect.sync(() => (heard.push(command), "127.0.0.1:9401")) : Effect.fail(new UsageError({ detail: "asked twice" }))
          )
        )
      )
      return heard
    }
    expect(await asked(0)).toEqual(["Your peer runs: p2pchat -t 127.0.0.1:9400"])
    expect(await asked(0, "seed")).toEqual(["Your peer runs: p2pchat --protocol seed -t 127.0.0.1:9400"])
    expect(await asked(1)).toEqual([undefined])
  })

  // Without -i a side listens where it reaches its target from. Told to run `-t 192.0.2.5:9400`, the person at
  // the peer's terminal on this same machine did, while this side, answered 127.0.0.1:9401, listened on
  // 127.0.0.1: each connected where the other did not listen, and both tried for good without a word.
  describe("is said again after the answer where this side then listens elsewhere", () => {
    const answering = (answer: string, given: Partial<RawFlags> = {}, interfaces: Parameters<typeof peerCommand>[3] = host) => {
      const heard: Array<string | undefined> = []
      return Effect.runPromise(
        resolveConfig(
          rawFlags({ port: "9400", json: false, ...given }),
          Option.some((_problem: string | undefined, command: string | undefined) =>
            heard.length === 0 ? Effect.sync(() => (heard.push(command), answer)) : Effect.fail(new UsageError({ detail: "asked twice" }))
          ),
          () => false,
          interfaces
        )
      ).then((config) => ({ heard, config }))
    }

    it("a peer on loopback: the banner names where this side listens, and the command for it, last", async () => {
      const { heard, config } = await answering("127.0.0.1:9401")
      expect(heard).toEqual(["Your peer runs: p2pchat -t 192.0.2.5:9400 (or -t [2001:db8::5]:9400, whichever reaches this machine)"])
      expect(config.listen).toEqual({ host: "127.0.0.1", port: 9400 })
      expect(listenHint(config)).toBe(
        "This side listens on 127.0.0.1, where it reaches 127.0.0.1:9401 from, not at the address said above. Your peer runs: p2pchat -t 127.0.0.1:9400"
      )
      expect(bannerHint(config)).toBe(listenHint(config))
      const seed = (await answering("127.0.0.1:9401", { protocol: "seed", wait: "30" })).config
      expect(bannerHint(seed)).toBe(`${unusedHint(seed)} ${listenHint(seed)}`)
      expect(bannerHint(seed)).toMatch(/tries on until a chat starts.*\. This side listens on 127\.0\.0\.1, .* Your peer runs: p2pchat --protocol seed -t 127\.0\.0\.1:9400$/)
      expect((await answering("[::1]:9401")).config.listen.host).toBe("::1")
      expect(listenHint((await answering("[::1]:9401")).config)).toMatch(/^This side listens on ::1, where it reaches \[::1\]:9401 from, .* p2pchat -t \[::1\]:9400$/)
    })

    it("nothing more where it listens where the command said, or where no command was said", async () => {
      // 127.0.0.1 among the addresses said (as no real host lists it)
      const saidLoopback = { eth0: [a("127.0.0.1", "IPv4"), a("192.0.2.5", "IPv4")] }
      expect(listenHint((await answering("127.0.0.1:9401", {}, saidLoopback)).config)).toBeUndefined()
      // -i: where it listens, and the command said so
      expect(listenHint((await answering("127.0.0.1:9401", { ip: Option.some("127.0.0.1") })).config)).toBeUndefined()
      expect(listenHint((await answering("127.0.0.1:9401", { ip: Option.some("0.0.0.0") })).config)).toBeUndefined()
      // -p 0 and client mode: no command was said
      expect(listenHint((await answering("127.0.0.1:9401", { port: "0" })).config)).toBeUndefined()
      expect(listenHint((await answering("127.0.0.1:9401", { mode: "1" })).config)).toBeUndefined()
      // a host with no address a peer could reach: no command either
      expect(listenHint((await answering("127.0.0.1:9401", {}, { lo: [a("127.0.0.1", "IPv4", true)] })).config)).toBeUndefined()
      // a target given with -t: nothing was said before it
      expect(listenHint(await resolving({ port: "9400" })({ target: Option.some("127.0.0.1:9401") }))).toBeUndefined()
    })
  })
})

describe("seconds as typed (--wait, --handshake-timeout, --heartbeat)", () => {
  const resolved = (given: Partial<RawFlags>) =>
    Effect.runPromise(
      resolveConfig(rawFlags({ mode: "2", ...given }), Option.none()).pipe(
        Effect.match({ onFailure: (e) => e.detail, onSuccess: (c) => [c.waitSeconds, c.handshakeTimeoutSeconds, c.heartbeatSeconds] })
      )
    )

  it("are read in decimal, with or without a fraction", async () => {
    expect(await resolved({ wait: "0.5", handshakeTimeout: "30", heartbeat: ".25" })).toEqual([0.5, 30, 0.25])
    expect(await resolved({ wait: "0", handshakeTimeout: "1.", heartbeat: "0" })).toEqual([0, 1, 0])
    // an exponent is decimal too (and how JavaScript itself writes 0.0000001)
    expect(await resolved({ wait: "1e-7", handshakeTimeout: "1E1", heartbeat: "2.5e+0" })).toEqual([1e-7, 10, 2.5])
  })

  it("are refused in any other form JavaScript reads as a number", async () => {
    for (const typed of ["0x10", "0o20", "0b1", "+5", "", " 5", "5 ", "Infinity", "1_0", "e5", "1e", "."])
      expect(await resolved({ wait: typed })).toMatch(/^--wait .* is not a number of seconds\.$/)
  })
})

describe("flags refused or read, each in its own words", () => {
  const outcome = (given: Partial<RawFlags>, ask = Option.none<(problem: string | undefined) => Effect.Effect<string>>()) =>
    Effect.runPromise(resolveConfig(rawFlags({ mode: "2", ip: Option.some("127.0.0.1"), ...given }), ask).pipe(Effect.either))
  const refusal = async (given: Partial<RawFlags>) => {
    const result = await outcome(given)
    return result._tag === "Left" ? result.left.detail : "taken"
  }

  it("seconds within each flag's range (0, 1 or 0.1 up to a day), said as typed when outside it", async () => {
    expect(await refusal({ wait: "-1" })).toBe("--wait -1 is out of range (0 to 86400 seconds).")
    expect(await refusal({ handshakeTimeout: "0.5" })).toBe("--handshake-timeout 0.5 is out of range (1 to 86400 seconds).")
    expect(await refusal({ heartbeat: "86400.5" })).toBe("--heartbeat 86400.5 is out of range (0 to 86400 seconds).")
    expect(await refusal({ wait: "86400", handshakeTimeout: "86400", heartbeat: "86400" })).toBe("taken")
    // three heartbeats of silence end a chat: a millisecond's would end every one
    expect(await refusal({ heartbeat: "0.05" })).toBe("--heartbeat 0.05 is too short: 0 turns heartbeats off, else give 0.1 seconds or more.")
    expect(await refusal({ heartbeat: "0.1" })).toBe("taken")
  })

  it("ports from 0 for -p (any free one), from 1 for -r; the switches as given", async () => {
    expect(await refusal({ remote: "0" })).toBe("-r/--remote 0 is not a port: give a whole number from 1 to 65535.")
    expect(await refusal({ port: "65536" })).toBe("-p/--port 65536 is not a port: give a whole number from 0 to 65535.")
    const taken = await outcome({ port: "0", remote: "65535", json: true, stay: true })
    expect(taken._tag === "Right" && [taken.right.listen.port, taken.right.json, taken.right.stay]).toEqual([0, true, true])
    const plain = await outcome({ json: false, stay: false })
    expect(plain._tag === "Right" && [plain.right.json, plain.right.stay]).toEqual([false, false])
  })

  it("-k and -c together or neither", async () => {
    const sentence = "-k/--key and -c/--cert go together: give both PEM files, or neither for a generated certificate."
    expect(await refusal({ key: Option.some("key.pem") })).toBe(sentence)
    expect(await refusal({ cert: Option.some("cert.pem") })).toBe(sentence)
    const both = await outcome({ key: Option.some("key.pem"), cert: Option.some("cert.pem") })
    expect(both._tag === "Right" && both.right.tls).toEqual({ key: "key.pem", cert: "cert.pem" })
  })

  it("-i an address or a host name (an IPv6 one in brackets too), and --protocol v2 or seed", async () => {
    expect(await refusal({ ip: Option.some("no_such!") })).toBe("-i/--ip no_such! is not an IP address.")
    const bracketed = await outcome({ ip: Option.some("[::1]") })
    expect(bracketed._tag === "Right" && bracketed.right.listen).toEqual({ host: "::1", port: 8000 })
    expect(await refusal({ protocol: "v3" })).toBe("--protocol v3 is unknown: use v2 (default) or seed (the original chat.py's).")
    const seed = await outcome({ protocol: "seed" })
    expect(seed._tag === "Right" && seed.right.protocol).toBe("seed")
  })

  it("a target asked for again is asked with what was wrong with the last answer", async () => {
    const problems: Array<string | undefined> = []
    const answers = ["", "10.0.0.5:0", "10.0.0.5:9000"]
    const result = await outcome(
      { mode: "1" },
      Option.some((problem) => Effect.sync(() => (problems.push(problem), answers[problems.length - 1]!)))
    )
    expect(problems).toEqual([undefined, "The target address is empty; give it as ip[:port].", '"0" is not a port: give a whole number from 1 to 65535.'])
    expect(result._tag === "Right" && result.right.target).toEqual({ host: "10.0.0.5", port: 9000 })
  })

  it("the hint for one machine knows all of 127.0.0.0/8 as loopback", () => {
    expect(sameMachineHint(config("auto", "192.0.2.2", "127.0.0.2"))).toMatch(/^The peer is on this machine \(127\.0\.0\.2:9002\)/)
    expect(sameMachineHint(config("auto", "127.0.0.2", "127.0.0.1"))).toBeUndefined()
  })
})
