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
  /** A fresh key pair from the CSPRNG. */
  readonly generate: () => EcdhKeyPair
  /** The key pair of a given scalar (known-answer tests). */
  readonly fromPrivate: (privateKey: Uint8Array) => EcdhKeyPair
  /** undefined when the peer's point is not on the curve: a peer controls it. */
  readonly sharedSecret: (privateKey: Uint8Array, peerPublicKey: Uint8Array) => Uint8Array | undefined
}

export class KeyAgreement extends Context.Tag("p2pchat/KeyAgreement")<KeyAgreement, Ecdh>() {}
