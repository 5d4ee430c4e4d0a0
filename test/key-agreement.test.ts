import { describe, expect, it } from "@effect/vitest"
import { toHex } from "../src/domain/bytes.js"
import * as NobleKeyAgreement from "../src/layers/NobleKeyAgreement.js"
import * as NodeCryptoKeyAgreement from "../src/layers/NodeCryptoKeyAgreement.js"

const node = NodeCryptoKeyAgreement.ecdh
const noble = NobleKeyAgreement.ecdh

/** The point in compressed form (02/03 ‖ X), which OpenSSL's ECDH also takes. */
const compressed = (point: Uint8Array) => {
  const out = new Uint8Array(49)
  out[0] = 2 + (point[96]! & 1)
  out.set(point.subarray(1, 49), 1)
  return out
}

describe("P-384 ECDH from node:crypto", () => {
  // generated pairs are OpenSSL key objects whose bytes are read back out of DER: each step checked against
  // the other implementation and against the path that rebuilds a key from its scalar
  it("a generated pair's bytes are its own (the scalar gives the point), and every way to a shared secret agrees", () => {
    for (let i = 0; i < 24; i++) {
      const a = node.generate()
      const b = node.generate()
      expect(a.privateKey.length).toBe(48)
      expect(toHex(node.fromPrivate(a.privateKey).publicKey)).toBe(toHex(a.publicKey))
      expect(toHex(noble.fromPrivate(a.privateKey).publicKey)).toBe(toHex(a.publicKey))
      const ab = node.sharedSecret(a.privateKey, b.publicKey)!
      expect(ab.length).toBe(48)
      expect(toHex(node.sharedSecret(b.privateKey, a.publicKey)!)).toBe(toHex(ab))
      expect(toHex(noble.sharedSecret(a.privateKey, b.publicKey)!)).toBe(toHex(ab))
      // a copy of the scalar is not the generated key object: the other path, same secret
      expect(toHex(node.sharedSecret(new Uint8Array(a.privateKey), b.publicKey)!)).toBe(toHex(ab))
      expect(toHex(node.sharedSecret(a.privateKey, compressed(b.publicKey))!)).toBe(toHex(ab))
    }
  })

  it("refuses a peer point that is not on the curve, malformed, or the point at infinity, whichever key it meets", () => {
    const own = node.generate()
    const peer = node.generate().publicKey
    const offCurve = new Uint8Array(peer)
    offCurve[96]! ^= 1
    const wrongPrefix = new Uint8Array(peer)
    wrongPrefix[0] = 5
    const bad = [offCurve, wrongPrefix, peer.subarray(0, 96), new Uint8Array(97), Uint8Array.of(0), new Uint8Array(0)]
    for (const privateKey of [own.privateKey, new Uint8Array(own.privateKey)])
      for (const point of bad) expect(node.sharedSecret(privateKey, point)).toBeUndefined()
  })
})
