import { Context } from "effect"

export type HashName = "sha256" | "sha384"

/** Hashes and key derivation (HKDF, RFC 5869; HMAC, RFC 2104). Synchronous: used inside protocol steps. */
export interface Kdf {
  readonly hash: (hash: HashName, data: Uint8Array) => Uint8Array
  readonly hmac: (hash: HashName, key: Uint8Array, data: Uint8Array) => Uint8Array
  readonly hkdf: (hash: HashName, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number) => Uint8Array
}

export class KeySchedule extends Context.Tag("p2pchat/KeySchedule")<KeySchedule, Kdf>() {}
