import { chacha20poly1305 } from "@noble/ciphers/chacha.js"
import { Layer } from "effect"
import { type Aead, Cipher, TAG_BYTES } from "../services/Cipher.js"

/** ChaCha20-Poly1305 from @noble/ciphers (audited pure JS): the portable back end, checked on the same vectors. */
export const aead: Aead = {
  seal: (key, nonce, plaintext, aad, headroom = 0, given?: Uint8Array) => {
    if (headroom === 0 && given === undefined) return chacha20poly1305(key, nonce, aad).encrypt(plaintext)
    const out = given ?? new Uint8Array(headroom + plaintext.length + TAG_BYTES)
    if (out.length !== headroom + plaintext.length + TAG_BYTES) throw new RangeError("seal: `out` has the wrong length")
    chacha20poly1305(key, nonce, aad).encrypt(plaintext, out.subarray(headroom))
    return out
  },
  open: (key, nonce, sealed, aad) => {
    try {
      return chacha20poly1305(key, nonce, aad).decrypt(sealed)
    } catch {
      return undefined
    }
  }
}

export const layer: Layer.Layer<Cipher> = Layer.succeed(Cipher, aead)
