import { Effect } from "effect"
import * as crypto from "node:crypto"
import { type Aead, Cipher } from "../services/Cipher.js"
import { type Ecdh, KeyAgreement } from "../services/KeyAgreement.js"
import { type Kdf, KeySchedule } from "../services/KeySchedule.js"

/** The primitives a protocol engine needs, gathered once from the context (sync functions: hot path). */
export interface Primitives {
  readonly aead: Aead
  readonly kdf: Kdf
  readonly ecdh: Ecdh
  /** CSPRNG bytes; replaced by a recorded sequence only in known-answer tests. */
  readonly random: (n: number) => Uint8Array
}

export const csprng = (n: number): Uint8Array => new Uint8Array(crypto.randomBytes(n))

export const primitives: Effect.Effect<Primitives, never, Cipher | KeySchedule | KeyAgreement> = Effect.all({
  aead: Cipher,
  kdf: KeySchedule,
  ecdh: KeyAgreement,
  random: Effect.succeed(csprng)
})
