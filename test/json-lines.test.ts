import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { type ChatEvent, event, fromJsonLine, toJsonLine, toJsonLinesBytes } from "../src/domain/events.js"
import { isJsonPlain, isJsonPlainUtf8 } from "../src/domain/jsonText.js"

/** What `--json` printed before the fast path: the reference every line must equal byte for byte. */
const reference = (e: ChatEvent) => {
  const { _tag, ...rest } = e
  return JSON.stringify({ event: _tag, ...rest })
}

const plainByDefinition = (text: string) => JSON.stringify(text) === `"${text}"`

// characters around every boundary that matters: controls, the two escaped ASCII characters and their
// neighbours, DEL, C1 and Latin-1, characters whose low byte is `"`, `\`, a control or printable ASCII
// (U+0122, U+015C, U+010A, U+0141), U+2028 and bidi controls, surrogate pairs and lone surrogates (both
// halves), and the last BMP character
const SPECIAL = [
  "\u0000", "\u0001", "\t", "\n", "\r", "\u001f", " ", "!", '"', "#", "[", "\\", "]", "~", "\u007f", "\u0080",
  "\u0085", "\u009f", "\u00a0", "\u00ff", "é", "\u0122", "\u015c", "\u010a", "\u0141", "\u2028", "\u200e", "\u202e",
  "\u2066", "😀", "\ud800", "\udfff", "\udbff", "\ufffd", "\uffff"
]
const longTexts = fc
  .tuple(
    fc.integer({ min: 1024, max: 5000 }),
    fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...SPECIAL), fc.string({ unit: "binary", maxLength: 3 }))), {
      maxLength: 6
    })
  )
  .map(([length, inserts]) => {
    let text = "x".repeat(length)
    for (const [at, s] of inserts) {
      const i = at % (text.length + 1)
      text = text.slice(0, i) + s + text.slice(i)
    }
    return text
  })

describe("JSON lines", () => {
  it("says a text is plain only when JSON.stringify leaves it as it is, and always so for Latin-1 texts", () => {
    fc.assert(
      fc.property(longTexts, (text) => {
        const plain = plainByDefinition(text)
        // a character from U+0100 on may take the slow way (its low byte is checked), never the wrong one
        if (/^[\u0000-\u00ff]*$/.test(text)) expect(isJsonPlain(text)).toBe(plain)
        else if (!plain) expect(isJsonPlain(text)).toBe(false)
      }),
      { numRuns: 2000 }
    )
  })

  it("finds an escaped character at every position, whatever its place in a 4-byte word", () => {
    for (const c of ['"', "\\", "\u0000", "\u001f", "\n", "\ud800"]) {
      for (let at = 0; at < 1031; at++) {
        const text = "y".repeat(at) + c + "y".repeat(1030 - at)
        expect(isJsonPlain(text), `${JSON.stringify(c)} at ${at}`).toBe(false)
      }
    }
    expect(isJsonPlain("y".repeat(1031))).toBe(true)
    // beyond Latin-1 too, when the low bytes are not ones that are escaped (U+20AC: 0xAC)
    expect(isJsonPlain("é€ ".repeat(500))).toBe(true)
  })

  it("does not call a text plain past the 128 Ki units it checks: an escape after them would be written raw", () => {
    for (const c of ['"', "\\", "\n"]) {
      const text = "y".repeat(200_000) + c
      expect(isJsonPlain(text)).toBe(false)
      const line = toJsonLine(event({ _tag: "message", id: "1", text }))
      expect(JSON.parse(line)).toMatchObject({ event: "message", text })
    }
    expect(isJsonPlain("y".repeat(128 * 1024))).toBe(true)
  })

  it("says UTF-8 bytes are plain exactly when their text is, wherever they lie in memory", () => {
    // the range starts at each offset from a 4-byte boundary, and each escaped character sits at every place
    const memory = Buffer.alloc(1100)
    for (const shift of [0, 1, 2, 3]) {
      for (const c of ['"', "\\", "\u0000", "\u001f", "\n", "\t"]) {
        for (let at = 0; at < 70; at++) {
          const n = memory.write("y".repeat(at) + c + "y".repeat(69 - at), shift, "utf8")
          expect(isJsonPlainUtf8(memory.subarray(shift, shift + n)), `${JSON.stringify(c)} at ${at}, shift ${shift}`).toBe(false)
          // the same bytes but the escaped one left out of the range: plain
          if (at > 0) expect(isJsonPlainUtf8(memory.subarray(shift, shift + at))).toBe(true)
        }
      }
    }
    fc.assert(
      fc.property(longTexts.filter((t) => t.isWellFormed()), fc.nat(3), (text, shift) => {
        const bytes = Buffer.alloc(shift + Buffer.byteLength(text))
        bytes.write(text, shift, "utf8")
        expect(isJsonPlainUtf8(bytes.subarray(shift))).toBe(plainByDefinition(text))
      }),
      { numRuns: 1000 }
    )
    // every character beyond ASCII is plain in UTF-8, whatever its low byte
    const wide = Buffer.from("é€\u0122\u015c\u010a😀\u2028".repeat(200))
    expect(isJsonPlainUtf8(wide)).toBe(true)
  })

  it("prints `event` first and `at` last, the other fields in their documented order (scripts may read lines as text)", () => {
    const at = "2026-11-28T04:00:00.000Z"
    expect(toJsonLine(event({ _tag: "listening", address: "127.0.0.1", port: 9400 }, at))).toBe(
      `{"event":"listening","address":"127.0.0.1","port":9400,"at":"${at}"}`
    )
    expect(toJsonLine(event({ _tag: "message", id: "7", text: "hi", sentAt: at }, at))).toBe(
      `{"event":"message","id":"7","text":"hi","sentAt":"${at}","at":"${at}"}`
    )
    expect(toJsonLine(event({ _tag: "disconnected", reason: "peer left", undelivered: ["8"] }, at))).toBe(
      `{"event":"disconnected","reason":"peer left","undelivered":["8"],"at":"${at}"}`
    )
  })

  it("prints sent and message events as JSON.stringify does, byte for byte, and reads them back", () => {
    fc.assert(
      fc.property(longTexts, fc.string({ maxLength: 64 }), fc.boolean(), (text, id, sent) => {
        const e = sent
          ? event({ _tag: "sent", id, text })
          : event({ _tag: "message", id, text, sentAt: "2026-11-26T09:00:00.000Z" })
        const line = toJsonLine(e)
        expect(line).toBe(reference(e))
        expect(fromJsonLine(line)).toEqual(e)
      }),
      { numRuns: 500 }
    )
  })

  it("keeps the text's place among the fields when another field looks like it", () => {
    const text = "z".repeat(2000)
    const e = event({ _tag: "message", id: '"text":""', text, sentAt: '","text":"' })
    expect(toJsonLine(e)).toBe(reference(e))
  })

  it("writes a batch of lines as the UTF-8 of the JSON.stringify lines, byte for byte", () => {
    const anEvent = fc.oneof(
      fc.tuple(fc.oneof(longTexts, fc.string({ unit: "binary", maxLength: 40 })), fc.string({ maxLength: 8 }), fc.boolean()).map(
        ([text, id, sent]) =>
          sent ? event({ _tag: "sent", id, text }) : event({ _tag: "message", id, text, sentAt: "2026-11-26T09:00:00.000Z" })
      ),
      fc.string({ unit: "binary", maxLength: 40 }).map((message) => event({ _tag: "error", code: "E", message })),
      fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }).map((undelivered) => event({ _tag: "disconnected", reason: "left", undelivered }))
    )
    fc.assert(
      fc.property(fc.array(anEvent, { maxLength: 6 }), (events) => {
        const expected = Buffer.from(events.map((e) => reference(e) + "\n").join(""), "utf8")
        expect(Buffer.from(toJsonLinesBytes(events)).equals(expected)).toBe(true)
      }),
      { numRuns: 500 }
    )
  })
})
