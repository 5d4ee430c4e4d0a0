import { Layer } from "effect"
import * as crypto from "node:crypto"
import { type Aead, Cipher, TAG_BYTES } from "../services/Cipher.js"

const EMPTY = new Uint8Array(0)
const OPTIONS = { authTagLength: TAG_BYTES } as const

/** ChaCha20-Poly1305 from OpenSSL through node:crypto: 1.5x (64 B) to 10x (16 KiB) faster than pure JS here. */
export const aead: Aead = {
  seal: (key, nonce, plaintext, aad = EMPTY, headroom = 0, given?: Uint8Array) => {
    if (given !== undefined && given.length !== headroom + plaintext.length + TAG_BYTES)
      throw new RangeError("seal: `out` has the wrong length")
    const c = crypto.createCipheriv("chacha20-poly1305", key, nonce, OPTIONS)
    if (aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length })
    const head = c.update(plaintext)
    const tail = c.final() // a stream cipher: nothing is held back, but the API allows it
    const out = given ?? new Uint8Array(headroom + head.length + tail.length + TAG_BYTES)
    out.set(head, headroom)
    if (tail.length > 0) out.set(tail, headroom + head.length)
    out.set(c.getAuthTag(), headroom + head.length + tail.length)
    return out
  },
  open: (key, nonce, sealed, aad = EMPTY) => {
    if (sealed.length < TAG_BYTES) return undefined
    const body = sealed.subarray(0, sealed.length - TAG_BYTES)
    try {
      const d = crypto.createDecipheriv("chacha20-poly1305", key, nonce, OPTIONS)
      if (aad.length > 0) d.setAAD(aad, { plaintextLength: body.length })
      d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
      const head = d.update(body)
      const tail = d.final()
      return tail.length === 0 ? new Uint8Array(head.buffer, head.byteOffset, head.length) : new Uint8Array(Buffer.concat([head, tail]))
    } catch {
      return undefined
    }
  }
}

export const layer: Layer.Layer<Cipher> = Layer.succeed(Cipher, aead)
