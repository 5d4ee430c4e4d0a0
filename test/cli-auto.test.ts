import { Effect } from "effect"
import { afterEach, describe, expect, it, onTestFinished } from "vitest"
import * as ForgeCertificate from "../src/layers/ForgeCertificate.js"
import { type CliProcess, freePort, startCli } from "./support/cli.js"

const running: Array<CliProcess> = []
afterEach(() => {
  for (const p of running.splice(0)) p.kill()
})
const start = (args: Array<string>) => {
  const p = startCli(args)
  running.push(p)
  return p
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("auto mode (two real processes over TLS on 127.0.0.1)", () => {
  for (const [order, protocol] of [
    ["A first", "v2"],
    ["B first", "v2"],
    ["together", "v2"],
    ["A first", "seed"],
    ["together", "seed"]
  ] as const) {
    it(`${protocol}: connects exactly once whatever the start order: ${order}`, async () => {
      const [pa, pb] = [await freePort(), await freePort()]
      const argsA = ["-i", "127.0.0.1", "-p", String(pa), "-t", `127.0.0.1:${pb}`, "--protocol", protocol]
      const argsB = ["-i", "127.0.0.1", "-p", String(pb), "-t", `127.0.0.1:${pa}`, "--protocol", protocol]
      let a: CliProcess, b: CliProcess
      if (order === "A first") {
        a = start(argsA)
        await a.waitFor("listening")
        await sleep(300)
        b = start(argsB)
      } else if (order === "B first") {
        b = start(argsB)
        await b.waitFor("listening")
        await sleep(300)
        a = start(argsA)
      } else {
        a = start(argsA)
        b = start(argsB)
      }
      const [ha, hb] = await Promise.all([a.waitFor("handshake"), b.waitFor("handshake")])
      expect(ha.peerFingerprint).toBe(hb.localFingerprint)
      expect(hb.peerFingerprint).toBe(ha.localFingerprint)
      if (protocol === "seed") {
        // one at a time: seed is lock-step
        a.send("ping from A")
        await b.waitFor("message", (m) => m.text === "ping from A")
        await a.waitFor("delivered")
        b.send("ping from B")
      } else {
        // v2: both at once
        a.send("ping from A")
        b.send("ping from B")
        expect(ha.sas).toMatch(/^\d{4} \d{4}$/)
        expect(ha.sas).toBe(hb.sas)
      }
      await b.waitFor("message", (m) => m.text === "ping from A")
      await a.waitFor("message", (m) => m.text === "ping from B")
      await a.waitFor("delivered")
      await b.waitFor("delivered")
      // exactly one session: each side completed one handshake and no connection was turned away mid-chat
      expect(a.events.filter((e) => e._tag === "handshake")).toHaveLength(1)
      expect(b.events.filter((e) => e._tag === "handshake")).toHaveLength(1)
      const roles = [a, b].map((p) => p.events.filter((e) => e._tag === "connected").at(-1))
      expect(new Set(roles.map((r) => r?._tag === "connected" && r.role))).toEqual(new Set(["connector", "listener"]))
      a.endInput()
      b.endInput()
      const codes = await Promise.all([a.exited, b.exited])
      expect(codes).toEqual([0, 0])
    })
  }

  it("a target that answers but does not speak TLS (a web server) is said once while auto mode waits on; the peer still gets in", async () => {
    // auto mode retried it every 400 ms for good, without a word ("Connecting to ..." and nothing else)
    const net = await import("node:net")
    const web = net.createServer((s) => s.once("data", () => s.end("HTTP/1.0 400 Bad Request\r\n\r\n")))
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve))
    onTestFinished(() => void web.close())
    const webPort = (web.address() as { port: number }).port
    const port = await freePort()
    const a = start(["-i", "127.0.0.1", "-p", String(port), "-t", `127.0.0.1:${webPort}`])
    await a.waitFor("rejected")
    // several more attempts, none of them said again
    await sleep(1_500)
    expect(a.events.filter((e) => e._tag === "connecting").length).toBeGreaterThan(3)
    expect(a.events.filter((e) => e._tag === "rejected")).toEqual([
      expect.objectContaining({ role: "connector", peer: `127.0.0.1:${webPort}`, reason: expect.stringMatching(/does not speak TLS/) })
    ])
    // the peer, started later, connects to it: the chat starts
    const b = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    await Promise.all([a.waitFor("handshake"), b.waitFor("handshake")])
    b.endInput()
    expect(await b.exited).toBe(0)
    expect(await a.exited).toBe(0)
  })

  /** A TLS service that is no p2pchat, and a port for our side that sorts `order` to the service's. */
  const tlsService = async (behaviour: "silent" | "closing" | "https", order: "lower" | "higher") => {
    const tls = await import("node:tls")
    const identity = await Effect.runPromise(ForgeCertificate.generateIdentity("service"))
    const [p1, p2] = [await freePort(), await freePort()]
    const [low, high] = p1 < p2 ? [p1, p2] : [p2, p1]
    const [port, servicePort] = order === "lower" ? [low, high] : [high, low]
    const service = tls.createServer({ key: identity.keyPem, cert: identity.certPem }, (s) => {
      s.on("error", () => {})
      if (behaviour === "closing") s.end()
      // a web server: whatever it is sent, it answers in HTTP (a v2 connector speaks first)
      if (behaviour === "https") s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
    })
    await new Promise<void>((resolve) => service.listen(servicePort, "127.0.0.1", resolve))
    onTestFinished(() => void service.close())
    return { port, servicePort }
  }

  // A TLS service where the peer should be, on either side of auto mode's order. The side whose port sorts higher
  // counts its connection once the other side speaks (a p2pchat listener speaks at once): it waited for that for
  // good in silence, and retried one that closed at once for good in silence; now it says so and waits on for
  // the peer. The lower side keeps its own connection: it ends the run, now with the same sentence (it read
  // "the peer did not complete the handshake in time", "the connection was closed by the other side").
  for (const [what, behaviour, reason, waitFor] of [
    ["says nothing", "silent", (port: number) => `No p2pchat answered at 127.0.0.1:${port}: it took the connection but said nothing for 1 s.`, 3],
    ["closes it at once", "closing", (port: number) => `No p2pchat answered at 127.0.0.1:${port}: it closed the connection without a word.`, 5]
  ] as const) {
    it(`a target that takes the TLS connection and ${what} ends the lower side's run, said as such`, async () => {
      const { port, servicePort } = await tlsService(behaviour, "lower")
      const a = start(["-i", "127.0.0.1", "-p", String(port), "-t", `127.0.0.1:${servicePort}`, "--handshake-timeout", "1"])
      expect(await a.exited).toBe(1)
      expect(a.events.at(-1)).toEqual(expect.objectContaining({ _tag: "error", message: reason(servicePort) }))
      // nor was it ever said to be connected (each side says so once the other has spoken): "Connected to ..."
      // came first, then that no p2pchat answered there
      expect(a.events.filter((e) => e._tag === "connected")).toEqual([])
    })

    it(`a target that takes the TLS connection and ${what} is said, not waited on nor fatal, on the higher side; the peer still gets in`, async () => {
      const { port, servicePort } = await tlsService(behaviour, "higher")
      const a = start(["-i", "127.0.0.1", "-p", String(port), "-t", `127.0.0.1:${servicePort}`, "--handshake-timeout", "1"])
      expect(await a.waitFor("rejected")).toEqual(expect.objectContaining({ role: "connector", peer: `127.0.0.1:${servicePort}`, reason: reason(servicePort) }))
      // it goes on trying (the peer may yet listen there) without saying it again
      await a.waitFor("connecting", () => a.events.filter((e) => e._tag === "connecting").length >= waitFor)
      expect(a.events.filter((e) => e._tag === "rejected")).toHaveLength(1)
      expect(a.events.filter((e) => e._tag === "listening")).toHaveLength(1)
      const b = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
      await Promise.all([a.waitFor("handshake"), b.waitFor("handshake")])
      b.endInput()
      expect(await b.exited).toBe(0)
      expect(await a.exited).toBe(0)
    })
  }

  it("a web server at the target (an HTTPS port) is said as one, at once, and never said connected: client mode and auto mode", async () => {
    const { port, servicePort } = await tlsService("https", "lower")
    const sentence = "The peer answered in HTTP, not with a p2pchat frame: it is a web server; the connection was closed."
    for (const args of [["-m", "1"], ["-i", "127.0.0.1", "-p", String(port)]]) {
      const a = start([...args, "-t", `127.0.0.1:${servicePort}`, "--handshake-timeout", "30"])
      // at once: not after the handshake's deadline, as when it waited for a first word that never came
      expect(await a.exited).toBe(1)
      expect(a.events.at(-1)).toEqual(expect.objectContaining({ _tag: "error", message: sentence }))
      expect(a.events.filter((e) => e._tag === "connected")).toEqual([])
    }
  }, 20_000)

  it("two on one machine, each naming the other as 127.0.0.1, without -i: they meet", async () => {
    // each listened on this host's LAN address by default, which -t 127.0.0.1 never reached: both retried for good
    const [pa, pb] = [await freePort(), await freePort()]
    const a = start(["-p", String(pa), "-t", `127.0.0.1:${pb}`])
    const b = start(["-p", String(pb), "-t", `127.0.0.1:${pa}`])
    expect((await a.waitFor("listening")).address).toBe("127.0.0.1")
    const [ha, hb] = await Promise.all([a.waitFor("handshake"), b.waitFor("handshake")])
    expect(ha.sas).toBe(hb.sas)
    a.endInput()
    b.endInput()
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0])
  })
})
