import { afterEach, describe, expect, it } from "vitest"
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
})
