import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { createHash } from "node:crypto"
import { toHex } from "../src/domain/bytes.js"
import * as NobleKeySchedule from "../src/layers/NobleKeySchedule.js"
import * as NodeCryptoKeySchedule from "../src/layers/NodeCryptoKeySchedule.js"
import type { HashName } from "../src/services/KeySchedule.js"

const bytes = (max: number) => fc.uint8Array({ maxLength: max })

// Exported for other programs: the two back ends, written independently, must agree on every input, and each
// must use the hash it is asked for (the protocols use both: SHA-384 for keys, SHA-256 elsewhere).
describe("SHA-2, HMAC and HKDF, both back ends", () => {
  it.prop(
    "agree with each other for either hash, any lengths from 0, and give that hash's own sizes",
    { hash: fc.constantFrom<HashName>("sha256", "sha384"), key: bytes(200), data: bytes(300), salt: bytes(80), info: bytes(80), length: fc.integer({ min: 1, max: 255 }) },
    ({ hash, key, data, salt, info, length }) => {
      const node = NodeCryptoKeySchedule.kdf
      const noble = NobleKeySchedule.kdf
      const size = hash === "sha256" ? 32 : 48
      expect(toHex(node.hash(hash, data))).toBe(createHash(hash).update(data).digest("hex"))
      expect(toHex(noble.hash(hash, data))).toBe(toHex(node.hash(hash, data)))
      expect(node.hmac(hash, key, data).length).toBe(size)
      expect(toHex(noble.hmac(hash, key, data))).toBe(toHex(node.hmac(hash, key, data)))
      const okm = node.hkdf(hash, key, salt, info, length)
      expect(okm.length).toBe(length)
      expect(toHex(noble.hkdf(hash, key, salt, info, length))).toBe(toHex(okm))
    }
  )
})
