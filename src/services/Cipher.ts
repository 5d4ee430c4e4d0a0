import { Context } from "effect"

/**
 * ChaCha20-Poly1305 (RFC 8439): 32-byte key, 12-byte nonce, 16-byte tag appended to the ciphertext.
 * Synchronous on purpose: it sits on the per-message hot path, inside one fiber's protocol step.
 */
export interface Aead {
  /**
   * ciphertext ‖ tag, after `headroom` bytes left for the caller (a frame header): the caller writes its
   * header there instead of copying the whole sealed message into a larger buffer. Written into `out` when
   * given (exactly headroom + plaintext + TAG_BYTES long: a buffer the caller reuses), else a new buffer.
   */
  readonly seal: (
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad?: Uint8Array,
    headroom?: number,
    out?: Uint8Array
  ) => Uint8Array
  /** The plaintext, or undefined when the tag does not verify (a forged, altered or misdirected frame). */
  readonly open: (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array) => Uint8Array | undefined
}

export const KEY_BYTES = 32
export const NONCE_BYTES = 12
export const TAG_BYTES = 16

export class Cipher extends Context.Tag("p2pchat/Cipher")<Cipher, Aead>() {}
