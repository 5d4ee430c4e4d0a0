import { Context } from "effect"

/** An ECDH P-384 key pair: the 48-byte private scalar and the 97-byte uncompressed public point (04 ‖ X ‖ Y). */
export interface EcdhKeyPair {
  readonly privateKey: Uint8Array
  readonly publicKey: Uint8Array
}

export const PUBLIC_KEY_BYTES = 97
export const SHARED_SECRET_BYTES = 48

/** ECDH over P-384. The shared secret is the 48-byte x-coordinate of the shared point (PROTOCOL.md). */
export interface Ecdh {
  /** A fresh key pair from the CSPRNG, made now. */
  readonly generate: () => EcdhKeyPair
  /**
   * A fresh key pair from the CSPRNG that may have been made in advance: an implementation may hand over one it
   * made after the previous call (at most one waits) and start on the next, so whoever read this process's
   * memory also knows the next pair. For seed's per-message keys (seed claims no healing after a compromise);
   * not for the Double Ratchet, whose healing counts on keys made after the compromise.
   */
  readonly generateAhead?: () => EcdhKeyPair
  /** The key pair of a given scalar (known-answer tests). */
  readonly fromPrivate: (privateKey: Uint8Array) => EcdhKeyPair
  /** undefined when the peer's point is not on the curve: a peer controls it. */
  readonly sharedSecret: (privateKey: Uint8Array, peerPublicKey: Uint8Array) => Uint8Array | undefined
}

export class KeyAgreement extends Context.Tag("p2pchat/KeyAgreement")<KeyAgreement, Ecdh>() {}
