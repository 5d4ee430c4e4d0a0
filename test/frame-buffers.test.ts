import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { SessionError } from "../src/domain/errors.js"
import type { SessionEvent, Step } from "../src/domain/session.js"
import { FrameBuffers } from "../src/layers/FrameBuffers.js"
import { linkedV2, noble, node } from "./support/sessions.js"
import { backends } from "./support/vectors.js"

const ok = (r: Step | SessionError): Step => {
  if (r instanceof SessionError) throw r
  return r
}
const texts = (events: ReadonlyArray<SessionEvent>) => events.flatMap((e) => (e._tag === "Message" ? [e.text] : []))

describe("reused buffers for large frames", () => {
  it("a buffer serves a later frame only once its frame is given back", () => {
    const pool = new FrameBuffers(100, 1000, 4)
    const a = pool.take(500)
    const b = pool.take(500)
    expect(a.length).toBe(500)
    expect(b.buffer).not.toBe(a.buffer)
    pool.give([a])
    const c = pool.take(800)
    expect(c.buffer).toBe(a.buffer)
    expect(c.length).toBe(800)
  })

  it("the range's own ends are served from reused buffers", () => {
    const pool = new FrameBuffers(100, 1000, 4)
    const ends = [pool.take(100), pool.take(1000)]
    pool.give(ends)
    expect(pool.held).toBe(2)
    expect(pool.take(1000).buffer).toBe(ends[1]!.buffer)
  })

  it("a frame given back twice in a row frees its buffer once: two later frames never share it", () => {
    const pool = new FrameBuffers(100, 1000, 4)
    const a = pool.take(500)
    pool.give([a])
    pool.give([a])
    expect(pool.held).toBe(1)
    expect(pool.take(500).buffer).not.toBe(pool.take(500).buffer)
  })

  it("sizes outside the range get new buffers, never kept", () => {
    const pool = new FrameBuffers(100, 1000, 4)
    const small = pool.take(99)
    const large = pool.take(1001)
    pool.give([small, large])
    expect(pool.held).toBe(0)
    expect(pool.take(99).buffer).not.toBe(small.buffer)
  })

  it("a frame given back twice cannot free the buffer a later frame now uses", () => {
    const pool = new FrameBuffers(100, 1000, 4)
    const a = pool.take(500)
    pool.give([a])
    const b = pool.take(500)
    expect(b.buffer).toBe(a.buffer)
    pool.give([a, a])
    expect(pool.held).toBe(0)
    expect(pool.take(500).buffer).not.toBe(b.buffer)
  })

  it("at most `keep` free buffers are held", () => {
    const pool = new FrameBuffers(100, 1000, 3)
    const frames = Array.from({ length: 5 }, () => pool.take(200))
    pool.give(frames)
    expect(pool.held).toBe(3)
  })

  it.each(backends)("$name: sealing into a given buffer gives the same bytes as into a new one; a wrong length is refused", ({ p }) => {
    const key = new Uint8Array(32).fill(7)
    const nonce = new Uint8Array(12).fill(9)
    const plaintext = new TextEncoder().encode("x".repeat(20_000))
    const aad = Uint8Array.of(1, 2, 3)
    const fresh = p.aead.seal(key, nonce, plaintext, aad, 5)
    const given = new Uint8Array(5 + plaintext.length + 16).fill(0xee)
    const sealed = p.aead.seal(key, nonce, plaintext, aad, 5, given)
    expect(sealed).toBe(given)
    expect(Buffer.from(sealed.subarray(5))).toEqual(Buffer.from(fresh.subarray(5)))
    expect(() => p.aead.seal(key, nonce, plaintext, aad, 5, new Uint8Array(given.length - 1))).toThrow(RangeError)
  })

  it.effect.prop(
    "v2 (node:crypto and noble): a frame not yet given back is never overwritten by later ones; given back, its buffer is reused",
    // per text: its size, and how many of its frames may stay in flight (sealed, not yet given back) after it
    [
      fc.array(fc.record({ size: fc.integer({ min: 17_000, max: 65_536 }), keep: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 12 }),
      fc.constantFrom(node, noble)
    ],
    ([plan, primitives]) =>
      Effect.gen(function* () {
        const { connector: a, listener: b } = yield* linkedV2(primitives)
        const inFlight: Array<Uint8Array> = []
        const sent: Array<string> = []
        const got: Array<string> = []
        const buffers = new Set<ArrayBufferLike>()
        // the peer reads a frame, then it is given back, as the chat does once the socket has written it
        const deliverOldest = () => {
          const f = inFlight.shift()!
          got.push(...texts(ok(b.receive(f)).events))
          a.recycle([f])
        }
        for (const [i, { size, keep }] of plan.entries()) {
          const text = String.fromCharCode(97 + (i % 26)).repeat(size)
          sent.push(text)
          for (const f of a.send(String(i + 1), text).frames) {
            buffers.add(f.buffer)
            inFlight.push(f)
          }
          while (inFlight.length > keep) deliverOldest()
        }
        while (inFlight.length > 0) deliverOldest()
        expect(got).toEqual(sent)
        expect(buffers.size).toBeLessThanOrEqual(Math.max(...plan.map((p) => p.keep)) + 1)
      }),
    { timeout: 60_000, fastCheck: { numRuns: 25 } }
  )
})
