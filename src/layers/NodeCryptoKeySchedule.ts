import { Layer } from "effect"
import * as crypto from "node:crypto"
import { type Kdf, KeySchedule } from "../services/KeySchedule.js"

const asBytes = (b: Buffer | ArrayBuffer): Uint8Array =>
  b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

/** SHA-2, HMAC and HKDF from OpenSSL through node:crypto. */
export const kdf: Kdf = {
  hash: (hash, data) => asBytes(crypto.createHash(hash).update(data).digest()),
  hmac: (hash, key, data) => asBytes(crypto.createHmac(hash, key).update(data).digest()),
  hkdf: (hash, ikm, salt, info, length) => asBytes(crypto.hkdfSync(hash, ikm, salt, info, length))
}

export const layer: Layer.Layer<KeySchedule> = Layer.succeed(KeySchedule, kdf)
