import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { padme } from "../src/domain/padding.js"
import { decodePayloadBytes, encodePayload, type Payload } from "../src/domain/payload.js"
import { MAX_TEXT_BYTES, textRefusal } from "../src/domain/text.js"
import { rawPlaintext as raw } from "./support/plaintext.js"

const text = (body: string): Payload => ({ v: 1, kind: "text", id: "7", sentAt: 1764000000000, body })

describe("v2 payload encoding", () => {
  it.prop("any text survives encoding byte for byte, a leading BOM and lone controls included", [fc.string({ unit: "grapheme", maxLength: 300 })], ([s]) => {
    for (const body of [s, "\ufeff" + s]) {
      const encoded = Buffer.from(encodePayload(text(body)))
      // the smallest bucket that holds it, whichever way it was encoded (ASCII fast path or counted)
      expect(encoded.length).toBe(padme(8 + encoded.readUInt32BE(0) + encoded.readUInt32BE(4)))
      expect(encoded.readUInt32BE(4)).toBe(Buffer.byteLength(body))
      expect(decodePayloadBytes(new Uint8Array(encoded))).toEqual({ _tag: "Known", payload: text(body) })
    }
  })

  // ASCII-only batches take a faster path (one decoding for all), so both kinds of text are drawn
  it.prop("several texts in one payload come back cut exactly as they went in", [fc.oneof(...[fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 40 })].map((t) => fc.array(t, { minLength: 1, maxLength: 20 })))], ([bodies]) => {
    const payload: Payload = { v: 1, kind: "texts", sentAt: 5, ids: bodies.map((_, i) => `m${i}`), bodies }
    expect(decodePayloadBytes(encodePayload(payload))).toEqual({ _tag: "Known", payload })
  })

  it("texts whose lengths do not add up to the body, do not match the ids, or cut UTF-8 apart are malformed", () => {
    const meta = (ids: Array<string>, lengths: Array<number>) => JSON.stringify({ v: 1, kind: "texts", sentAt: 0, ids, lengths })
    const body = Buffer.from("abc\u00e9")
    expect(decodePayloadBytes(raw(meta(["1", "2"], [3, 2]), body))._tag).toBe("Known")
    expect(decodePayloadBytes(raw(meta(["1", "2"], [3, 1]), body))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(meta(["1", "2"], [3, 3]), body))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(meta(["1"], [3, 2]), body))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(meta(["1", "2"], [4, 1]), body))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(meta([], []), new Uint8Array(0)))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(meta(["1", "2"], [-1, 6]), body))).toEqual({ _tag: "Malformed" })
    // all ASCII, which is cut by one decoding: the lengths are checked the same
    const ascii = Buffer.from("abc")
    expect(decodePayloadBytes(raw(meta(["1", "2"], [1, 2]), ascii))).toMatchObject({ _tag: "Known", payload: { bodies: ["a", "bc"] } })
    for (const lengths of [[1, 1], [2, 2], [-1, 4], [4, -1]])
      expect(decodePayloadBytes(raw(meta(["1", "2"], lengths), ascii))).toEqual({ _tag: "Malformed" })
  })

  it("the text body travels raw after the JSON part, not inside it", () => {
    const encoded = Buffer.from(encodePayload(text('a "quoted" body')))
    const metaLength = encoded.readUInt32BE(0)
    const meta = JSON.parse(Buffer.from(encoded.subarray(8, 8 + metaLength)).toString())
    expect(meta).toEqual({ v: 1, kind: "text", id: "7", sentAt: 1764000000000 })
    expect(Buffer.from(encoded.subarray(8 + metaLength, 8 + metaLength + encoded.readUInt32BE(4))).toString()).toBe('a "quoted" body')
  })

  it("lengths that overflow, reach past the end or leave non-zero padding are refused as bad padding", () => {
    const meta = JSON.stringify({ v: 1, kind: "heartbeat" })
    expect(decodePayloadBytes(raw(meta, undefined, 16))._tag).toBe("Known")
    expect(decodePayloadBytes(raw(meta, undefined, 16, [0xffffffff, 0xffffffff]))).toEqual({ _tag: "BadPadding" })
    expect(decodePayloadBytes(raw(meta, undefined, 16, [meta.length, 0xfffffff0]))).toEqual({ _tag: "BadPadding" })
    expect(decodePayloadBytes(raw(meta, undefined, 16, [meta.length + 17, 0]))).toEqual({ _tag: "BadPadding" })
    const dirty = raw(meta, undefined, 5000)
    dirty[dirty.length - 1] = 1
    expect(decodePayloadBytes(dirty)).toEqual({ _tag: "BadPadding" })
    // the padding's first byte, right where the content ends, is checked too
    const dirtyFirst = raw(meta, undefined, 16)
    dirtyFirst[8 + meta.length] = 1
    expect(decodePayloadBytes(dirtyFirst)).toEqual({ _tag: "BadPadding" })
    expect(decodePayloadBytes(new Uint8Array(7))).toEqual({ _tag: "BadPadding" })
    // a body that would end 1 to 8 bytes past the plaintext (no more than its two length fields): not cut short and taken
    const textMeta = JSON.stringify({ v: 1, kind: "text", id: "7", sentAt: 0 })
    expect(decodePayloadBytes(raw(textMeta, Buffer.from("abc")))).toMatchObject({ _tag: "Known", payload: { body: "abc" } })
    for (let past = 1; past <= 8; past++)
      expect(decodePayloadBytes(raw(textMeta, Buffer.from("abc"), 0, [textMeta.length, 3 + past]))).toEqual({ _tag: "BadPadding" })
  })

  it("a body on a kind that has none, a text body that is not UTF-8, or meta that breaks its schema is malformed", () => {
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "heartbeat" }), Buffer.from("x")))).toEqual({ _tag: "Malformed" })
    const textMeta = JSON.stringify({ v: 1, kind: "text", id: "1", sentAt: 0 })
    expect(decodePayloadBytes(raw(textMeta, Uint8Array.of(0xc3, 0x28)))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "text", id: "", sentAt: 0 }), Buffer.from("x")))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw("{not json"))).toEqual({ _tag: "Malformed" })
    // a time no Date can hold would throw where it is shown
    for (const sentAt of [1e300, -8.7e15])
      expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "text", id: "1", sentAt }), Buffer.from("x")))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "text", id: "1", sentAt: 8.64e15 }), Buffer.from("x")))._tag).toBe("Known")
    // a goodbye's reason is handed on (the outcome's `reason`): up to 200 characters
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "goodbye", reason: "r".repeat(200) })))._tag).toBe("Known")
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "goodbye", reason: "r".repeat(201) })))).toEqual({ _tag: "Malformed" })
  })

  it("every id and every length is checked: empty or over-long ids, too many of them, or odd lengths are malformed", () => {
    const texts = (ids: ReadonlyArray<string>, lengths: ReadonlyArray<number>) =>
      decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "texts", sentAt: 0, ids, lengths }), Buffer.alloc(Math.min(lengths.reduce((a, b) => a + b, 0), 1024), "a")))
    const receipt = (ids: ReadonlyArray<string>) => decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "receipt", ids })))
    const n = (k: number, id: (i: number) => string = String) => Array.from({ length: k }, (_, i) => id(i))
    expect(texts(["1", "x".repeat(64)], [1, 1])._tag).toBe("Known")
    expect(texts(n(256), n(256, () => "1").map(Number))._tag).toBe("Known")
    expect(receipt([])._tag).toBe("Known")
    expect(receipt(n(4096))._tag).toBe("Known")
    for (const bad of [
      texts(["1", ""], [1, 1]),
      texts(["1", "x".repeat(65)], [1, 1]),
      texts(n(257), n(257, () => "1").map(Number)),
      texts(["1", "2"], [1.5, 0.5]),
      texts(["1", "2"], [2 ** 53, 0]),
      texts(["1", 2 as unknown as string], [1, 1]),
      texts(["1", "2"], ["1" as unknown as number, 1]),
      decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "texts", sentAt: 0, ids: "12", lengths: [1, 1] }), Buffer.from("ab"))),
      receipt(["1", ""]),
      receipt(["1", "y".repeat(65)]),
      receipt(n(4097)),
      receipt(["1", 2 as unknown as string])
    ])
      expect(bad).toEqual({ _tag: "Malformed" })
  })

  it("large bodies take a faster path when all ASCII: still exact, and one bad byte still makes them malformed", () => {
    const textMeta = JSON.stringify({ v: 1, kind: "text", id: "1", sentAt: 0 })
    const ascii = "line\t\u0000\u007f ".repeat(2000)
    expect(decodePayloadBytes(raw(textMeta, Buffer.from(ascii)))).toMatchObject({ _tag: "Known", payload: { body: ascii } })
    const mixed = ascii + "é"
    expect(decodePayloadBytes(raw(textMeta, Buffer.from(mixed)))).toMatchObject({ _tag: "Known", payload: { body: mixed } })
    for (const bad of [0x80, 0xc3, 0xff])
      expect(decodePayloadBytes(raw(textMeta, Buffer.concat([Buffer.from(ascii), Uint8Array.of(bad)])))).toEqual({ _tag: "Malformed" })
  })

  it("a kind or version from a newer peer is reported by name, its body skipped", () => {
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "file-chunk", n: 3 }), Buffer.from([0, 1, 2])))).toEqual({ _tag: "Unknown", kind: "file-chunk" })
    // the name is shown ("unsupported"): up to 64 characters
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "k".repeat(64) })))).toEqual({ _tag: "Unknown", kind: "k".repeat(64) })
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 1, kind: "k".repeat(65) })))).toEqual({ _tag: "Malformed" })
    expect(decodePayloadBytes(raw(JSON.stringify({ v: 2, kind: "text" })))).toEqual({ _tag: "Unknown", kind: "text (payload version 2)" })
  })
})

describe("what may be sent", () => {
  it("a text is refused when empty or over 64 KiB of UTF-8, counted in bytes, not characters", () => {
    expect(textRefusal("")).toMatch(/empty/)
    expect(textRefusal("a".repeat(MAX_TEXT_BYTES))).toBeUndefined()
    expect(textRefusal("a".repeat(MAX_TEXT_BYTES + 1))).toMatch(/65537 bytes/)
    expect(textRefusal("é".repeat(MAX_TEXT_BYTES / 2))).toBeUndefined()
    expect(textRefusal("é".repeat(MAX_TEXT_BYTES / 2) + "a")).toMatch(/65537 bytes/)
    // three bytes a unit: the longest text whose bytes need no counting, and one more
    expect(textRefusal("✓".repeat(21845))).toBeUndefined()
    expect(textRefusal("✓".repeat(21846))).toMatch(/65538 bytes/)
    expect(textRefusal("😀".repeat(MAX_TEXT_BYTES / 4))).toBeUndefined()
    expect(textRefusal("😀".repeat(MAX_TEXT_BYTES / 4) + "a")).toMatch(/65537 bytes/)
  })
})
