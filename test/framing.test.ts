import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { describeError, FrameError, TransportError } from "../src/domain/errors.js"
import { encodeFrame, encodeFrames, FrameDecoder } from "../src/domain/frame.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import { frame, gather } from "../src/layers/LengthPrefixFraming.js"

/** Splits bytes at the given cut points (sorted, deduplicated). */
const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let last = 0
  for (const p of points) {
    chunks.push(bytes.subarray(last, p))
    last = p
  }
  chunks.push(bytes.subarray(last))
  return chunks
}

const drain = (decoder: FrameDecoder) => {
  const out: Array<Uint8Array> = []
  for (;;) {
    const next = decoder.next()
    if (next === undefined) return out
    if (next instanceof FrameError) throw next
    out.push(next.slice())
  }
}

const bodies = fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 20 })

describe("gathered writes", () => {
  it.prop(
    "the chunks of a gathered write are byte for byte the joined frames, large bodies passed by reference",
    // the sizes either side of 16 KiB, where bodies stop being joined, drawn as often as the ranges
    [
      fc.array(fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(16 * 1024 - 1, 16 * 1024), fc.integer({ min: 16 * 1024, max: 70_000 })), {
        maxLength: 12
      })
    ],
    ([sizes]) => {
      const bodies = sizes.map((n, i) => new Uint8Array(n).fill(i + 1))
      const chunks = gather(bodies)
      // equals, not toEqual: toEqual goes through up to 840 KB a byte at a time (23-34 s for the 60 runs here)
      expect(Buffer.concat(chunks).equals(Buffer.from(encodeFrames(bodies)))).toBe(true)
      for (const b of bodies) if (b.length >= 16 * 1024) expect(chunks).toContain(b)
    },
    { fastCheck: { numRuns: 60 } }
  )
})

describe("framing", () => {
  it.prop("frames split and coalesced arbitrarily reassemble exactly", { frames: bodies, cuts: fc.array(fc.nat(), { maxLength: 40 }) }, ({ frames, cuts }) => {
    const decoder = new FrameDecoder(1024)
    const got: Array<Uint8Array> = []
    for (const chunk of split(encodeFrames(frames), cuts)) {
      decoder.push(chunk)
      got.push(...drain(decoder))
    }
    expect(got).toEqual(frames)
    expect(decoder.finish()).toBeUndefined()
  })

  it.prop(
    "a reader that takes exactly the bytes `missing` asks for gets every frame as soon as it is whole, never reading past it",
    { frames: bodies },
    ({ frames }) => {
      const wire = encodeFrames(frames)
      const decoder = new FrameDecoder(1024)
      const got: Array<Uint8Array> = []
      let at = 0
      for (let steps = 0; steps < 10_000 && at < wire.length; steps++) {
        const n = decoder.missing
        expect(n).toBeGreaterThanOrEqual(1)
        decoder.push(wire.subarray(at, at + n))
        at += n
        const ready = drain(decoder)
        got.push(...ready)
        // asked for no more than the next frame needed: whatever became whole, nothing of a later one was read
        expect(decoder.pendingBytes).toBe(0)
      }
      expect(got).toEqual(frames)
    }
  )

  it.prop(
    "however the bytes arrive, `missing` is what the header or the frame being read still lacks, no more: a reader waiting for it never waits past a frame's end",
    { frames: bodies, extras: fc.array(fc.nat({ max: 700 }), { maxLength: 60 }) },
    ({ frames, extras }) => {
      const wire = encodeFrames(frames)
      // where each header and each frame ends
      const ends: Array<number> = []
      let end = 0
      for (const f of frames) {
        ends.push(end + 4)
        end += 4 + f.length
        ends.push(end)
      }
      const decoder = new FrameDecoder(1024)
      let at = 0
      for (let step = 0; step < 20_000 && at < wire.length; step++) {
        drain(decoder)
        expect(decoder.missing).toBe(ends.find((e) => e > at)! - at)
        // what the transport got beyond what was asked (the rest of a TLS record, say)
        const n = decoder.missing + (extras.length > 0 ? extras[step % extras.length]! : 0)
        decoder.push(wire.subarray(at, at + n))
        at = Math.min(wire.length, at + n)
      }
      expect(at).toBe(wire.length)
    }
  )

  it("a frame split at every byte boundary reassembles", () => {
    const body = Uint8Array.from({ length: 50 }, (_, i) => i * 7)
    const wire = encodeFrames([body, body.subarray(0, 3)])
    for (let a = 0; a <= wire.length; a++)
      for (let b = a; b <= wire.length; b++) {
        const decoder = new FrameDecoder(64)
        const got: Array<Uint8Array> = []
        for (const chunk of [wire.subarray(0, a), wire.subarray(a, b), wire.subarray(b)]) {
          decoder.push(chunk)
          got.push(...drain(decoder))
        }
        expect(got).toEqual([body, body.subarray(0, 3)])
      }
  })

  it.prop(
    "a length over the maximum is refused from the header alone, before any body is buffered",
    { max: fc.integer({ min: 0, max: 1 << 20 }), excess: fc.integer({ min: 1, max: 2 ** 32 - 1 }) },
    ({ max, excess }) => {
      const length = Math.min(max + excess, 2 ** 32 - 1)
      fc.pre(length > max)
      const decoder = new FrameDecoder(max)
      const header = new Uint8Array(4)
      new DataView(header.buffer).setUint32(0, length, false)
      decoder.push(header)
      const result = decoder.next()
      expect(result).toBeInstanceOf(FrameError)
      expect(result).toMatchObject({ reason: "TooLarge", size: length, max })
      expect(decoder.pendingBytes).toBe(0)
    }
  )

  it("the maximum itself is a frame, one byte more is not", () => {
    for (const max of [0, 1, 100, 1 << 20]) {
      const decoder = new FrameDecoder(max)
      decoder.push(encodeFrame(new Uint8Array(max).fill(7)))
      expect(decoder.next()).toEqual(new Uint8Array(max).fill(7))
      decoder.push(encodeFrame(new Uint8Array(max + 1)))
      expect(decoder.next()).toMatchObject({ _tag: "FrameError", reason: "TooLarge", size: max + 1, max })
    }
  })

  it("a length that reads as text is said as the text another protocol sent, a length of bytes as a number", () => {
    const said = (head: string | Uint8Array) => {
      const decoder = new FrameDecoder(1 << 20)
      decoder.push(typeof head === "string" ? new TextEncoder().encode(head) : head)
      return describeError(decoder.next() as FrameError)
    }
    expect(said("SSH-2.0-OpenSSH_9.2\r\n")).toBe('The peer sent text ("SSH-..."), not a p2pchat frame: it speaks another protocol; the connection was closed.')
    expect(said("POST /x HTTP/1.1\r\n")).toBe('The peer sent an HTTP request ("POST ..."), not a p2pchat frame (a web browser?); the connection was closed.')
    expect(said("HTTP/1.1 400 Bad Request\r\n")).toBe("The peer answered in HTTP, not with a p2pchat frame: it is a web server; the connection was closed.")
    expect(said(Uint8Array.of(0x16, 0x03, 0x01, 0x02))).toBe("The peer sent a frame of 369295618 bytes, over the 1048576-byte limit; the connection was closed.")
    expect(said(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46))).toMatch(/^The peer sent a frame of 2135247942 bytes/)
    // every method an HTTP client starts with, a space among the four bytes included (not said as its own
    // word: "GET " reads "GET ...")
    const methods = { GET: "GET / HTTP/1.1", HEAD: "HEAD / HTTP/1.1", PUT: "PUT /x HTTP/1.1", DELE: "DELETE /x HTTP/1.1", OPTI: "OPTIONS * HTTP/1.1", PATC: "PATCH /x HTTP/1.1", CONN: "CONNECT host:443 HTTP/1.1", PRI: "PRI * HTTP/2.0" }
    for (const [word, request] of Object.entries(methods))
      expect(said(request)).toBe(`The peer sent an HTTP request ("${word} ..."), not a p2pchat frame (a web browser?); the connection was closed.`)
    expect(said("A B C")).toBe('The peer sent text ("A B..."), not a p2pchat frame: it speaks another protocol; the connection was closed.')
  })

  it("a zero-length frame is a valid empty frame", () => {
    const decoder = new FrameDecoder(16)
    decoder.push(new Uint8Array(4))
    expect(decoder.next()).toEqual(new Uint8Array(0))
  })

  it.prop(
    "a stream that ends inside a frame is a truncation error, never a short frame",
    { body: fc.uint8Array({ minLength: 1, maxLength: 300 }), keep: fc.nat() },
    ({ body, keep }) => {
      const wire = encodeFrames([body])
      const cut = 1 + (keep % (wire.length - 1)) // 1 .. length-1 bytes arrive
      const decoder = new FrameDecoder(1024)
      decoder.push(wire.subarray(0, cut))
      expect(drain(decoder)).toEqual([])
      const error = decoder.finish()
      expect(error).toMatchObject({ _tag: "FrameError", reason: "Truncated" })
      // what is missing: of the header while it is not whole, else of the frame
      const missing = cut < 4 ? 4 - cut : wire.length - cut
      expect(describeError(error!)).toBe(`The connection ended in the middle of a frame (${missing} of the expected bytes missing).`)
    }
  )

  it.effect("over a connection: an oversize header closes the read with a FrameError, and no frame is returned", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      yield* a.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3))
      const error = yield* Effect.flip(frame(b, 1024).readFrame)
      expect(error).toMatchObject({ _tag: "FrameError", reason: "TooLarge", size: 2 ** 32 - 1 })
    })
  )

  it.effect("over a connection: a frame of ours over the limit is refused before anything is written (the peer would refuse it)", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      const error = yield* Effect.flip(frame(a, 1024).writeFrames([new Uint8Array(10), new Uint8Array(1025)]))
      expect(error).toMatchObject({ _tag: "TransportError", reason: "Write", detail: "frame of 1025 bytes exceeds 1024" })
      // not even the frame before it went out; one of the limit itself does
      yield* frame(a, 1024).writeFrames([new Uint8Array(1024).fill(3)])
      const read = frame(b, 1024)
      expect(yield* read.readFrame).toEqual(new Uint8Array(1024).fill(3))
      yield* a.write(encodeFrames([Uint8Array.of(7)]))
      expect(yield* read.readFrame).toEqual(Uint8Array.of(7))
    })
  )

  it.effect("over a connection: frames before a bad header are handed over first; every read after says the error, none reads past it", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      // two good frames, a header over the limit, and a well-formed frame after it that must never be taken
      const bad = Uint8Array.of(0, 0, 4, 1)
      yield* a.write(Buffer.concat([encodeFrames([Uint8Array.of(1), Uint8Array.of(2, 2)]), bad, encodeFrames([Uint8Array.of(9)])]))
      const framed = frame(b, 1024)
      expect((yield* framed.readFrames).map((f) => [...f])).toEqual([[1], [2, 2]])
      for (let i = 0; i < 2; i++) {
        const error = yield* Effect.flip(framed.readFrames)
        expect(error).toMatchObject({ _tag: "FrameError", reason: "TooLarge", size: 1025, max: 1024 })
      }
    })
  )

  it.effect("over a connection read chunk by chunk: a reset inside a frame is said as the reset, not as a frame cut short", () =>
    Effect.gen(function* () {
      const [, b] = yield* MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      const wire = encodeFrames([new Uint8Array(100).fill(5)])
      const chunks: Array<Uint8Array> = [wire.subarray(0, 30), wire.subarray(30, 60)]
      const reset = new TransportError({ reason: "Reset", detail: "read ECONNRESET" })
      // a connection with no readAtLeast: the framing reads it one chunk at a time
      const conn = { ...b, readAtLeast: undefined, read: Effect.suspend(() => (chunks.length > 0 ? Effect.succeed(chunks.shift()!) : Effect.fail(reset))) }
      expect(yield* Effect.flip(frame(conn, 1024).readFrame)).toBe(reset)
    })
  )

  it.effect("over a connection: end of stream inside a frame is reported as truncation", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      yield* a.write(encodeFrames([new Uint8Array(10)]).subarray(0, 9))
      yield* a.close
      const error = yield* Effect.flip(frame(b, 1024).readFrame)
      expect(error).toMatchObject({ _tag: "FrameError", reason: "Truncated" })
    })
  )

  it.effect("over a connection: a frame assembled from pieces holds a later frame only once it is given back", () =>
    Effect.gen(function* () {
      const [a, b] = yield* MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      const framed = frame(b)
      // frames of 30 KB arriving in 16 KiB pieces (as TLS records do): each is assembled into a buffer
      const body = (k: number) => new Uint8Array(30_000).fill(k)
      const send = (k: number) =>
        Effect.forEach(split(encodeFrames([body(k)]), [16_384, 32_768]), (piece) => a.write(piece), { discard: true })
      yield* send(1)
      const first = yield* framed.readFrame
      yield* send(2)
      const second = yield* framed.readFrame
      // the first is still in use: the second has memory of its own
      expect(second.buffer).not.toBe(first.buffer)
      framed.recycle!([first])
      yield* send(3)
      const third = yield* framed.readFrame
      expect(third.buffer).toBe(first.buffer)
      expect(third).toEqual(body(3))
      expect(second).toEqual(body(2))
      // a frame that sat inside one piece is a view of it: given back, it is not taken for later frames
      yield* a.write(encodeFrames([body(4)]))
      const inOnePiece = yield* framed.readFrame
      framed.recycle!([inOnePiece])
      yield* send(5)
      expect((yield* framed.readFrame).buffer).not.toBe(inOnePiece.buffer)
    })
  )
})
