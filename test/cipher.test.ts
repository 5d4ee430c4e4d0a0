import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { toHex } from "../src/domain/bytes.js"
import * as NobleCipher from "../src/layers/NobleCipher.js"
import * as NodeCryptoCipher from "../src/layers/NodeCryptoCipher.js"
import { backends } from "./support/vectors.js"


// The Cipher layers are exported for other programs, which may seal with AAD of any length (the protocols here
// always give a header of several bytes): the two back ends, written independently, must agree on all of them.
describe("ChaCha20-Poly1305, both back ends", () => {
  const input = {
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    plaintext: fc.uint8Array({ maxLength: 300 }),
    aad: fc.uint8Array({ maxLength: 40 }),
    headroom: fc.nat({ max: 8 })
  }

  it.prop("seal the same bytes for any AAD and plaintext length (none included), and open each other's", input, ({ key, nonce, plaintext, aad, headroom }) => {
    const node = NodeCryptoCipher.aead.seal(key, nonce, plaintext, aad, headroom)
    const noble = NobleCipher.aead.seal(key, nonce, plaintext, aad, headroom)
    expect(node.length).toBe(headroom + plaintext.length + 16)
    expect(toHex(node.subarray(headroom))).toBe(toHex(noble.subarray(headroom)))
    const sealed = node.subarray(headroom)
    expect(toHex(NobleCipher.aead.open(key, nonce, sealed, aad)!)).toBe(toHex(plaintext))
    expect(toHex(NodeCryptoCipher.aead.open(key, nonce, sealed, aad)!)).toBe(toHex(plaintext))
  })

  it.prop(
    "refuse a sealed message whose AAD, ciphertext or tag differs by one bit, and one shorter than a tag",
    { ...input, flip: fc.nat(), bit: fc.nat({ max: 7 }) },
    ({ key, nonce, plaintext, aad, flip, bit }) => {
      for (const { name, p } of backends) {
        const sealed = p.aead.seal(key, nonce, plaintext, aad)
        if (aad.length > 0) {
          const other = aad.slice()
          other[flip % aad.length]! ^= 1 << bit
          expect(p.aead.open(key, nonce, sealed, other), `${name}: AAD`).toBeUndefined()
        }
        // and AAD left out where it was given, or given where there was none
        expect(p.aead.open(key, nonce, sealed, aad.length > 0 ? new Uint8Array(0) : Uint8Array.of(0)), `${name}: no AAD`).toBeUndefined()
        const altered = sealed.slice()
        altered[flip % sealed.length]! ^= 1 << bit
        expect(p.aead.open(key, nonce, altered, aad), `${name}: sealed`).toBeUndefined()
        expect(p.aead.open(key, nonce, sealed.subarray(0, 15), aad), `${name}: short`).toBeUndefined()
      }
    }
  )

  it.each(backends)("$name: a buffer given to seal into is what is sealed into, with headroom or none; it must be exactly the sealed length, neither shorter nor longer", ({ p }) => {
    const key = new Uint8Array(32).fill(1)
    const nonce = new Uint8Array(12)
    const plaintext = new Uint8Array(100)
    for (const headroom of [0, 4]) {
      const out = new Uint8Array(headroom + 100 + 16)
      expect(p.aead.seal(key, nonce, plaintext, undefined, headroom, out)).toBe(out)
      expect(toHex(out.subarray(headroom))).toBe(toHex(p.aead.seal(key, nonce, plaintext)))
    }
    for (const wrong of [119, 121]) expect(() => p.aead.seal(key, nonce, plaintext, undefined, 4, new Uint8Array(wrong))).toThrow(RangeError)
  })
})
