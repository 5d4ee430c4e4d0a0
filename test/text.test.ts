import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { escapeForTerminal, seconds } from "../src/domain/text.js"

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
