import { p384 } from "@noble/curves/nist.js"
import { Layer } from "effect"
import { type Ecdh, KeyAgreement } from "../services/KeyAgreement.js"

/** P-384 ECDH from @noble/curves (audited pure JS). */
export const ecdh: Ecdh = {
  generate: () => {
    const privateKey = p384.utils.randomSecretKey()
    return { privateKey, publicKey: p384.getPublicKey(privateKey, false) }
  },
  fromPrivate: (privateKey) => ({ privateKey, publicKey: p384.getPublicKey(privateKey, false) }),
  sharedSecret: (privateKey, peerPublicKey) => {
    try {
      // noble returns the compressed point (49 bytes); the shared secret is its x-coordinate
      return p384.getSharedSecret(privateKey, peerPublicKey, true).subarray(1)
    } catch {
      return undefined
    }
  }
}

export const layer: Layer.Layer<KeyAgreement> = Layer.succeed(KeyAgreement, ecdh)
