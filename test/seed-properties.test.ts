import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { SessionError } from "../src/domain/errors.js"
import { concatBytes, utf8 } from "../src/domain/bytes.js"
import { pemFromPoint } from "../src/domain/pem.js"
import type { Step } from "../src/domain/session.js"
import { frame } from "../src/layers/LengthPrefixFraming.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import * as SeedProtocol from "../src/layers/SeedProtocol.js"
import { V2_MAGIC } from "../src/domain/version.js"
import { keysOf, linkedSeed, node, noble, sealedAs } from "./support/sessions.js"

const ok = (r: Step | SessionError): Step => {
  if (r instanceof SessionError) throw r
  return r
}

const pemBytes = () => utf8(pemFromPoint(node.ecdh.generate().publicKey))
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")
/** Both crypto back ends, for `it.effect.each`. */
const bothBackends = [
  ["node:crypto", node],
  ["noble", noble]
] as const

describe("seed sessions, property-based", () => {
  it("the key chain stays in step over random sequences of sends from either side, and any Unicode round-trips", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.string({ unit: "binary", maxLength: 80 })), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        async (turns, useNoble) => {
          const { connector, listener } = await Effect.runPromise(linkedSeed(useNoble ? noble : node))
          for (const [i, [fromConnector, text]] of turns.entries()) {
            const [sender, receiver] = fromConnector ? [connector, listener] : [listener, connector]
            const sent = sender.send(String(i), text)
            const got = ok(receiver.receive(sent.frames[0]!))
            expect(got.events).toEqual(
              text === "/quit" ? [{ _tag: "PeerLeft", reason: "quit" }] : [{ _tag: "Message", id: expect.any(String), text }]
            )
            expect(ok(sender.receive(got.frames[0]!)).events).toEqual([{ _tag: "Delivered", ids: [String(i)] }])
          }
        }
      ),
      { numRuns: 25 }
    ), 60_000)

  it.effect("sends typed while a reply is pending are queued, then go out one by one in order", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const first = a.send("1", "one")
      expect(a.send("2", "two").frames).toEqual([])
      expect(a.send("3", "three").frames).toEqual([])
      let frame = first.frames[0]!
      const got: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const r = ok(b.receive(frame))
        got.push(...r.events.flatMap((e) => (e._tag === "Message" ? [e.text] : [])))
        const next = ok(a.receive(r.frames[0]!))
        frame = next.frames[0]!
      }
      expect(got).toEqual(["one", "two", "three"])
      expect(a.settled()).toBe(true)
    })
  )

  // node's base64 decoder takes anything (it skips what is not base64 and stops at the first "="): a salt that
  // chat.py never writes would be read as other bytes, and the next message would fail to decrypt
  it.effect("a message whose salt or sub-salt is not base64 as Python writes it is refused as malformed, not read loosely", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const fields = { salt: b64(node.random(16)), key: b64(pemBytes()), sub_salt: b64(node.random(16)) }
      const sealed = (json: string) => sealedAs(keysOf(a).key, 0x00, utf8(json))
      for (const field of ["salt", "sub_salt"])
        for (const bad of ["AAA", "AA=A", "A", "AAAAA", "AAAA====", "-_-_"])
          expect(b.receive(sealed(JSON.stringify({ message: "x", ...fields, [field]: bad })))).toMatchObject({ _tag: "SessionError", reason: "Malformed" })
      // the same message with the fields as written: taken
      expect(ok(b.receive(sealed(JSON.stringify({ message: "x", ...fields })))).events).toEqual([{ _tag: "Message", id: expect.any(String), text: "x" }])
    })
  )

  it.effect("a salt or sub-salt of up to 64 bytes is taken, a longer one refused as malformed", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const message = (salt: number, subSalt: number) =>
        sealedAs(keysOf(a).key, 0x00, utf8(JSON.stringify({ message: "x", salt: b64(node.random(salt)), key: b64(pemBytes()), sub_salt: b64(node.random(subSalt)) })))
      // 65 and 66 bytes are 88 base64 characters, as 64 are
      for (const [salt, subSalt] of [[65, 16], [16, 65], [66, 16], [16, 66], [67, 16]])
        expect(b.receive(message(salt!, subSalt!))).toMatchObject({ _tag: "SessionError", reason: "Malformed", detail: "a message carries a malformed salt or key" })
      expect(ok(b.receive(message(64, 64))).events).toEqual([{ _tag: "Message", id: expect.any(String), text: "x" }])
    })
  )

  it.effect.each(bothBackends)("a message whose key is a P-384 public key in form but not a point on the curve is refused as malformed, not thrown (%s)", ([, p]) =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed(p)
      const point = node.ecdh.generate().publicKey.slice()
      point[96]! ^= 1
      const key = Buffer.from(utf8(pemFromPoint(point))).toString("base64")
      const json = JSON.stringify({ message: "x", salt: b64(node.random(16)), key, sub_salt: b64(node.random(16)) })
      expect(b.receive(sealedAs(keysOf(a).key, 0x00, utf8(json)))).toMatchObject({
        _tag: "SessionError",
        reason: "Malformed",
        detail: "a message carries a key that is not on the P-384 curve"
      })
    })
  )

  it.effect("messages received are numbered in-1, in-2, ...: each its own id", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const ids: Array<string> = []
      for (const text of ["one", "two", "three"]) {
        const got = ok(b.receive(a.send(text, text).frames[0]!))
        ids.push(...got.events.flatMap((e) => (e._tag === "Message" ? [e.id] : [])))
        ok(a.receive(got.frames[0]!))
      }
      expect(ids).toEqual(["in-1", "in-2", "in-3"])
    })
  )

  it.effect("a crossing send whose content is not the protocol's JSON shows nothing, and ends with the crossing's error", () =>
    Effect.gen(function* () {
      const { connector: a } = yield* linkedSeed()
      a.send("1", "from a")
      const { previous } = keysOf(a)
      const atA = ok(a.receive(sealedAs(previous!, 0x00, utf8("not json"))))
      expect(atA.events).toEqual([])
      expect(atA.fatal).toMatchObject({ _tag: "SessionError", reason: "Crossing" })
    })
  )

  it.effect("a crossing message after others is numbered after them: no two received messages share an id", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const first = ok(a.receive(b.send("1", "first").frames[0]!))
      expect(first.events).toMatchObject([{ _tag: "Message", id: "in-1" }])
      ok(b.receive(first.frames[0]!))
      a.send("1", "from a")
      const atA = ok(a.receive(b.send("2", "from b").frames[0]!))
      expect(atA.events).toEqual([{ _tag: "Message", id: "in-2", text: "from b" }])
      expect(atA.fatal).toMatchObject({ reason: "Crossing" })
    })
  )

  it.effect("a leave while messages wait their turn goes out after them: each is sent and acknowledged first", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const out = [a.send("1", "one").frames[0]!]
      expect(a.send("2", "two").frames).toEqual([])
      expect(a.leave("quit").frames).toEqual([])
      const shown: Array<unknown> = []
      for (let i = 0; i < 3; i++) {
        const atB = ok(b.receive(out[i]!))
        shown.push(...atB.events)
        const atA = ok(a.receive(atB.frames[0]!))
        out.push(...atA.frames)
        if (i < 2) expect(atA.events).toEqual([{ _tag: "Delivered", ids: [String(i + 1)] }])
      }
      expect(shown).toEqual([
        { _tag: "Message", id: "in-1", text: "one" },
        { _tag: "Message", id: "in-2", text: "two" },
        { _tag: "PeerLeft", reason: "quit" }
      ])
      expect(out).toHaveLength(3)
      expect(a.settled()).toBe(true)
    })
  )

  it.effect("a crossing send (both at once) shows the peer's message, then ends with a clear error", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const fromA = a.send("1", "from a").frames[0]!
      const fromB = b.send("1", "from b").frames[0]!
      const atA = ok(a.receive(fromB))
      expect(atA.events).toEqual([{ _tag: "Message", id: expect.any(String), text: "from b" }])
      expect(atA.fatal).toMatchObject({ _tag: "SessionError", reason: "Crossing" })
      expect(ok(b.receive(fromA)).fatal).toMatchObject({ reason: "Crossing" })
    })
  )

  it("a bit flipped anywhere in a message frame is rejected, never shown", () =>
    fc.assert(
      fc.asyncProperty(fc.nat(), async (bit) => {
        const { connector: a, listener: b } = await Effect.runPromise(linkedSeed())
        const frame = a.send("1", "secret").frames[0]!.slice()
        frame[Math.floor(bit / 8) % frame.length]! ^= 1 << bit % 8
        expect(b.receive(frame)).toBeInstanceOf(SessionError)
      }),
      { numRuns: 30 }
    ))
})

describe("seed frames out of step or out of shape", () => {
  it("a first frame from the listener too short to hold a salt and a key, or from a v2 peer, is said to be so", () => {
    expect(SeedProtocol.parseListenerHello(node.random(16))).toMatchObject({
      _tag: "Left",
      left: { reason: "Malformed", detail: "the peer's first frame is too short to hold a salt and a key" }
    })
    expect(SeedProtocol.parseListenerHello(concatBytes(V2_MAGIC, Uint8Array.of(1, 0)))).toMatchObject({ _tag: "Left", left: { reason: "WrongProtocol" } })
    expect(SeedProtocol.parseConnectorHello(concatBytes(V2_MAGIC, Uint8Array.of(2)))).toMatchObject({ _tag: "Left", left: { reason: "WrongProtocol" } })
  })

  it.scoped.each(["connector", "listener"] as const)("a handshake key in form but off the P-384 curve fails the handshake with a sentence, not an exception (we are the %s)", (role) =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      const point = node.ecdh.generate().publicKey.slice()
      point[96]! ^= 1
      const pem = utf8(pemFromPoint(point))
      // the peer's hello: the listener's carries a salt first
      yield* frame(theirs).writeFrames([role === "connector" ? concatBytes(node.random(16), pem) : pem])
      const result = yield* Effect.either(SeedProtocol.handshake(node, frame(ours), role))
      expect(result).toMatchObject({ _tag: "Left", left: { _tag: "HandshakeError", reason: "Malformed", detail: "the peer's public key is not a valid P-384 point" } })
    })
  )

  it.effect.each(bothBackends)("a frame too short for a nonce and a tag fails authentication, with a reply pending or not (%s)", ([, p]) =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed(p)
      for (const short of [new Uint8Array(0), node.random(12), node.random(27)])
        expect(b.receive(short)).toMatchObject({ _tag: "SessionError", reason: "Decrypt" })
      a.send("1", "pending")
      for (const short of [new Uint8Array(0), node.random(27)]) expect(a.receive(short)).toMatchObject({ _tag: "SessionError", reason: "Decrypt" })
    })
  )

  it.effect("a key reply where no message is pending, or a message where a key reply is due, is refused as out of step", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      expect(b.receive(sealedAs(keysOf(b).key, 0x01, pemBytes()))).toMatchObject({
        _tag: "SessionError",
        reason: "Malformed",
        detail: "got a key reply while no message was pending"
      })
      a.send("1", "waits for its reply")
      const { key, previous } = keysOf(a)
      const json = utf8(JSON.stringify({ message: "x", salt: "", key: "", sub_salt: "" }))
      expect(a.receive(sealedAs(key, 0x00, json))).toMatchObject({
        _tag: "SessionError",
        reason: "Malformed",
        detail: "expected the peer's key reply, got another frame type"
      })
      // under the key our message went out with, only a crossing message is possible, never a key reply
      expect(a.receive(sealedAs(previous!, 0x01, pemBytes()))).toMatchObject({ _tag: "SessionError", reason: "Decrypt" })
    })
  )

  it.effect.each(bothBackends)("a key reply whose key is not UTF-8, not a PEM key or not a point on the curve is refused as malformed, not thrown (%s)", ([, p]) =>
    Effect.gen(function* () {
      const offCurve = node.ecdh.generate().publicKey.slice()
      offCurve[96]! ^= 1
      for (const content of [Uint8Array.of(0xff, 0xfe), utf8("not a key"), utf8(pemFromPoint(offCurve))]) {
        const { connector: a } = yield* linkedSeed(p)
        a.send("1", "waits for its reply")
        expect(a.receive(sealedAs(keysOf(a).key, 0x01, content))).toMatchObject({
          _tag: "SessionError",
          reason: "Malformed",
          detail: "the peer's key reply does not hold a valid P-384 key"
        })
        // nothing delivered, and the reply still awaited
        expect(a.settled()).toBe(false)
      }
    })
  )

  it.effect("a goodbye crossing a message ends the chat as a goodbye, on both sides, and the message is still shown", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const goodbye = a.leave("bye").frames[0]!
      const message = b.send("1", "sent as a leaves").frames[0]!
      // the side that was leaving: the peer's message, no error, and its own leave goes on (it was dropped unseen,
      // and the peer said to have left)
      const atA = ok(a.receive(message))
      expect(atA.events).toEqual([{ _tag: "Message", id: expect.any(String), text: "sent as a leaves" }])
      expect(atA.fatal).toBeUndefined()
      // the side whose message crossed it: the peer left, no error
      const atB = ok(b.receive(goodbye))
      expect(atB.events).toEqual([{ _tag: "PeerLeft", reason: "quit" }])
      expect(atB.fatal).toBeUndefined()
    })
  )

  it.effect("the key reply to our goodbye reports no delivery (a goodbye has no id of the caller's)", () =>
    Effect.gen(function* () {
      const { connector: a, listener: b } = yield* linkedSeed()
      const delivered = ok(a.receive(ok(b.receive(a.send("1", "hello").frames[0]!)).frames[0]!)).events
      expect(delivered).toEqual([{ _tag: "Delivered", ids: ["1"] }])
      const atB = ok(b.receive(a.leave("bye").frames[0]!))
      expect(atB.events).toEqual([{ _tag: "PeerLeft", reason: "quit" }])
      expect(ok(a.receive(atB.frames[0]!)).events).toEqual([])
    })
  )
})
