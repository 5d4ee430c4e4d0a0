import { hkdf } from "@noble/hashes/hkdf.js"
import { hmac } from "@noble/hashes/hmac.js"
import { sha256, sha384 } from "@noble/hashes/sha2.js"
import { Layer } from "effect"
import { type HashName, type Kdf, KeySchedule } from "../services/KeySchedule.js"

const fn = (hash: HashName) => (hash === "sha256" ? sha256 : sha384)

/** SHA-2, HMAC and HKDF from @noble/hashes. */
export const kdf: Kdf = {
  hash: (hash, data) => fn(hash)(data),
  hmac: (hash, key, data) => hmac(fn(hash), key, data),
  hkdf: (hash, ikm, salt, info, length) => hkdf(fn(hash), ikm, salt, info, length)
}

export const layer: Layer.Layer<KeySchedule> = Layer.succeed(KeySchedule, kdf)
