import { Layer } from "effect"
import * as crypto from "node:crypto"
import { type Ecdh, type EcdhKeyPair, KeyAgreement } from "../services/KeyAgreement.js"

const CURVE = "secp384r1"

const pairOf = (ecdh: crypto.ECDH): EcdhKeyPair => ({
  privateKey: new Uint8Array(ecdh.getPrivateKey()),
  publicKey: new Uint8Array(ecdh.getPublicKey())
})

/** P-384 ECDH from OpenSSL through node:crypto: about 4x faster than pure JS here. */
export const ecdh: Ecdh = {
  generate: () => {
    const e = crypto.createECDH(CURVE)
    e.generateKeys()
    return pairOf(e)
  },
  fromPrivate: (privateKey) => {
    const e = crypto.createECDH(CURVE)
    e.setPrivateKey(privateKey)
    return pairOf(e)
  },
  sharedSecret: (privateKey, peerPublicKey) => {
    try {
      const e = crypto.createECDH(CURVE)
      e.setPrivateKey(privateKey)
      // OpenSSL checks that the point is on the curve and rejects the point at infinity
      return new Uint8Array(e.computeSecret(peerPublicKey))
    } catch {
      return undefined
    }
  }
}

export const layer: Layer.Layer<KeyAgreement> = Layer.succeed(KeyAgreement, ecdh)
