import * as crypto from "node:crypto"

/**
 * The TLS certificate's RSA key, generated natively in the thread pool from the very first moment of the
 * process, while the rest of the program loads (about 150-250 ms of key search that would otherwise come
 * after it). Started only when the run may listen and no key file is given.
 */
export interface RsaPemPair {
  readonly privateKey: string
  readonly publicKey: string
}

let pending: Promise<RsaPemPair> | undefined

const mayListen = (argv: ReadonlyArray<string>): boolean => {
  if (argv.some((a) => a === "--help" || a === "-h" || a === "--version" || a === "-k" || a === "--key" || a.startsWith("--key=")))
    return false
  const i = argv.findIndex((a) => a === "-m" || a === "--mode")
  return !(i >= 0 && argv[i + 1] === "1")
}

export const prestartKeygen = (argv: ReadonlyArray<string>): void => {
  if (!mayListen(argv)) return
  pending = new Promise((resolve, reject) =>
    crypto.generateKeyPair(
      "rsa",
      { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey }))
    )
  )
  // a run that never listens never asks; do not let the rejection go unhandled
  pending.catch(() => {})
}

/** The pre-started key pair, handed out once. */
export const takePrestartedKey = (): Promise<RsaPemPair> | undefined => {
  const p = pending
  pending = undefined
  return p
}
