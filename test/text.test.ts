import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { escapeForTerminal, messageForTerminal, seconds } from "../src/domain/text.js"

describe("times in sentences", () => {
  it("tenths below ten seconds, without a trailing .0; whole seconds from ten on", () => {
    expect([300, 949, 1_000, 1_250, 5_000, 9_940, 9_960, 10_000, 18_400, 86_400_000].map(seconds)).toEqual([
      "0.3 s",
      "0.9 s",
      "1 s",
      "1.3 s",
      "5 s",
      "9.9 s",
      "10 s",
      "10 s",
      "18 s",
      "86400 s"
    ])
  })
})

describe("a peer's text made safe for a terminal", () => {
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i))
  // C0, DEL and C1 controls; the bidi marks (LRM, RLM, ALM), embeddings and overrides (LRE-RLO) and isolates
  // (LRI-PDI), which reorder what a line shows (CVE-2021-42574, "Trojan Source")
  const unsafe = [...range(0x00, 0x1f), ...range(0x7f, 0x9f), "\u200e", "\u200f", "\u061c", ...range(0x202a, 0x202e), ...range(0x2066, 0x2069)]

  it("shows every control character and bidi control as a visible escape", () => {
    for (const c of unsafe) {
      const code = c.charCodeAt(0)
      const named: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r" }
      const expected = named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`)
      expect(escapeForTerminal(`a${c}b`)).toBe(`a${expected}b`)
    }
  })

  it("leaves everything else as it is: printable ASCII, accents, joiners of emoji, other scripts", () => {
    const safe = [...range(0x20, 0x7e), ...range(0xa0, 0x24f), "\u200b", "\u200c", "\u200d", "\u0628", "\u05d0", "\u2028", "\ufeff"]
    for (const c of safe) expect(escapeForTerminal(c)).toBe(c)
    expect(escapeForTerminal("👩‍💻 ünïcödé مرحبا")).toBe("👩‍💻 ünïcödé مرحبا")
  })

  it("leaves none of them in any text", () => {
    const set = new Set(unsafe)
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...unsafe), fc.string({ unit: "binary", maxLength: 4 })), { maxLength: 20 }), (parts) => {
        for (const c of escapeForTerminal(parts.join(""))) expect(set.has(c)).toBe(false)
      })
    )
  })
})

// Pasted code kept its tabs, and both sides read "\tif x:" where the line was indented.
describe("a message's text for a terminal: each tab spaces to the next stop", () => {
  it("pads to the next multiple of 8 characters from the text's start, counting escapes as shown", () => {
    expect(messageForTerminal("a\tb")).toBe(`a${" ".repeat(7)}b`)
    expect(messageForTerminal("\t\tx")).toBe(`${" ".repeat(16)}x`)
    expect(messageForTerminal("12345678\tx")).toBe(`12345678${" ".repeat(8)}x`)
    expect(messageForTerminal("1234567\tx\t")).toBe(`1234567 x${" ".repeat(7)}`)
    // a control character is shown escaped, four columns wide, and the stop follows what is shown
    expect(messageForTerminal("\u001b\tx")).toBe(`\\x1b${" ".repeat(4)}x`)
    // an emoji (a surrogate pair) is one character
    expect(messageForTerminal("😀\tx")).toBe(`😀${" ".repeat(7)}x`)
  })

  it("counts columns with the measure it is given: a wide character's two, before and between tabs", () => {
    // a stand-in measure: each 漢 two columns, anything else one a character
    const width = (shown: string) => Array.from(shown).reduce((n, c) => n + (c === "漢" ? 2 : 1), 0)
    expect(messageForTerminal("漢\tx", width)).toBe(`漢${" ".repeat(6)}x`)
    expect(messageForTerminal("a\t漢漢漢\tb", width)).toBe(`a${" ".repeat(7)}漢漢漢${" ".repeat(2)}b`)
    expect(messageForTerminal("漢漢漢漢\tb", width)).toBe(`漢漢漢漢${" ".repeat(8)}b`)
    // the measure is given what is shown: an escape's four columns, not the control character
    expect(messageForTerminal("\u001b\tx", width)).toBe(`\\x1b${" ".repeat(4)}x`)
  })

  it("is escapeForTerminal where there is no tab", () => {
    const hostile = "x\u001b[2J\u202e\u0007\n😀"
    expect(messageForTerminal(hostile)).toBe(escapeForTerminal(hostile))
  })

  it("writes no tab and nothing escapeForTerminal would not, and in printable ASCII puts each tab's next character on a stop", () => {
    const ascii = fc.array(fc.oneof(fc.constant("\t"), fc.string({ unit: fc.constantFrom("a", " ", "~"), maxLength: 10 })), { maxLength: 12 })
    fc.assert(
      fc.property(ascii, fc.constantFrom("", "\u001b", "\u202e", "é"), (parts, extra) => {
        const text = parts.join("") + extra
        const shown = messageForTerminal(text)
        expect(shown).not.toContain("\t")
        expect(shown.replace(/ /g, "")).toBe(escapeForTerminal(text.replace(/\t/g, "")).replace(/ /g, ""))
        // what follows each tab starts on a stop
        for (const [i, part] of parts.entries()) {
          if (part !== "\t") continue
          const upToIt = messageForTerminal(parts.slice(0, i + 1).join(""))
          expect(upToIt.length % 8).toBe(0)
          expect(shown.startsWith(upToIt)).toBe(true)
        }
      })
    )
  })
})
