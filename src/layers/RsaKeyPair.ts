import * as crypto from "node:crypto"

/** PEM texts of an RSA key pair. */
export interface RsaPemPair {
  readonly privateKey: string
  readonly publicKey: string
}

/**
 * An RSA-2048 key pair generated natively in the thread pool (about 150 ms; pure-JS generation takes seconds).
 * Depends on node:crypto only, so the CLI's entry point can start it before anything else loads.
 */
export const generateRsaKeyPair = (): Promise<RsaPemPair> =>
  new Promise((resolve, reject) =>
    crypto.generateKeyPair(
      "rsa",
      { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey }))
    )
  )
