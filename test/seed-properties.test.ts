import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { SessionError } from "../src/domain/errors.js"
import { concatBytes, utf8 } from "../src/domain/bytes.js"
import { pemFromPoint } from "../src/domain/pem.js"
import type { Step } from "../src/domain/session.js"
import { linkedSeed, node, noble } from "./support/sessions.js"

const ok = (r: Step | SessionError): Step => {
  if (r instanceof SessionError) throw r
  return r
}

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
      const key = (a as unknown as { key: Uint8Array }).key
      const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")
      const fields = { salt: b64(node.random(16)), key: b64(utf8(pemFromPoint(node.ecdh.generate().publicKey))), sub_salt: b64(node.random(16)) }
      const sealed = (json: string) => {
        const nonce = node.random(12)
        return concatBytes(nonce, node.aead.seal(key, nonce, concatBytes(Uint8Array.of(0), utf8(json))))
      }
      for (const field of ["salt", "sub_salt"])
        for (const bad of ["AAA", "AA=A", "A", "AAAAA", "AAAA====", "-_-_"])
          expect(b.receive(sealed(JSON.stringify({ message: "x", ...fields, [field]: bad })))).toMatchObject({ _tag: "SessionError", reason: "Malformed" })
      // the same message with the fields as written: taken
      expect(ok(b.receive(sealed(JSON.stringify({ message: "x", ...fields })))).events).toEqual([{ _tag: "Message", id: expect.any(String), text: "x" }])
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
