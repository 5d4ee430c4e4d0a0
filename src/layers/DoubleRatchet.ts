import { concatBytes, toHex, utf8, wipe } from "../domain/bytes.js"
import type { EcdhKeyPair } from "../services/KeyAgreement.js"
import type { Primitives } from "./Primitives.js"

/**
 * The Double Ratchet (Perrin & Marlinspike, "The Double Ratchet Algorithm", rev. 1, 2016) over P-384:
 * DH = ECDH P-384, KDF_RK = HKDF-SHA384, KDF_CK = HMAC-SHA384 with distinct constants for the message key
 * (0x01) and the next chain key (0x02), AEAD = ChaCha20-Poly1305 with key and nonce derived from the
 * message key. Steps are functions from a state value to a new state value: a failed decryption returns
 * nothing new, so it cannot corrupt the session. After a successful step the old state's secrets are wiped:
 * the caller must only go on with the returned state.
 */

/** Most message keys skipped within one chain (a peer cannot make us derive millions of keys). */
export const MAX_SKIP = 1000
/** Most skipped message keys stored in all, across chains. */
export const MAX_SKIPPED_TOTAL = 2000
export const HEADER_BYTES = 97 + 4 + 4

const INFO_ROOT = utf8("p2pchat v2 root")
const INFO_MESSAGE = utf8("p2pchat v2 message")
const MESSAGE_KEY_CONSTANT = Uint8Array.of(0x01)
const CHAIN_KEY_CONSTANT = Uint8Array.of(0x02)

export interface RatchetState {
  readonly dhs: EcdhKeyPair
  readonly dhr: Uint8Array | undefined
  readonly rk: Uint8Array
  readonly cks: Uint8Array | undefined
  readonly ckr: Uint8Array | undefined
  readonly ns: number
  readonly nr: number
  readonly pn: number
  /** Message keys of messages not yet received, by "dh-hex:n". */
  readonly skipped: ReadonlyMap<string, Uint8Array>
}

export interface Header {
  readonly dh: Uint8Array
  readonly pn: number
  readonly n: number
}

export type RatchetFailure = "Decrypt" | "Replay" | "TooManySkipped" | "BadKey"

export const encodeHeader = (h: Header): Uint8Array => {
  const out = new Uint8Array(HEADER_BYTES)
  out.set(h.dh, 0)
  const view = new DataView(out.buffer)
  view.setUint32(97, h.pn, false)
  view.setUint32(101, h.n, false)
  return out
}

export const decodeHeader = (bytes: Uint8Array): Header | undefined => {
  if (bytes.length !== HEADER_BYTES || bytes[0] !== 0x04) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { dh: bytes.slice(0, 97), pn: view.getUint32(97, false), n: view.getUint32(101, false) }
}

const kdfRk = (p: Primitives, rk: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] => {
  const out = p.kdf.hkdf("sha384", dhOut, rk, INFO_ROOT, 64)
  return [out.slice(0, 32), out.slice(32, 64)]
}

const kdfCk = (p: Primitives, ck: Uint8Array): [Uint8Array, Uint8Array] => [
  p.kdf.hmac("sha384", ck, CHAIN_KEY_CONSTANT).slice(0, 32),
  p.kdf.hmac("sha384", ck, MESSAGE_KEY_CONSTANT).slice(0, 32)
]

/**
 * AEAD key and nonce from the message key: one HMAC-SHA384 under mk gives 48 bytes, of which key (32) and
 * nonce (12) are taken. mk is already a uniformly random PRF output, so HKDF's extract step adds nothing but a
 * second HMAC on the per-message hot path (it was a quarter of the time per message).
 */
const aeadKeys = (p: Primitives, mk: Uint8Array) => {
  const okm = p.kdf.hmac("sha384", mk, INFO_MESSAGE)
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44), okm }
}

const skippedKey = (dh: Uint8Array, n: number) => `${toHex(dh)}:${n}`

/**
 * The connector's initial state: it ratchets at once against the listener's handshake key, so both sides
 * can send from the first moment; its receiving chain starts from the listener's initial sending chain.
 */
export const initConnector = (
  p: Primitives,
  rootKey: Uint8Array,
  listenerInitialChain: Uint8Array,
  listenerPublic: Uint8Array
): RatchetState | undefined => {
  const dhs = p.ecdh.generate()
  const dhOut = p.ecdh.sharedSecret(dhs.privateKey, listenerPublic)
  if (dhOut === undefined) return undefined
  const [rk, cks] = kdfRk(p, rootKey, dhOut)
  wipe(dhOut)
  return { dhs, dhr: listenerPublic, rk, cks, ckr: listenerInitialChain, ns: 0, nr: 0, pn: 0, skipped: new Map() }
}

/** The listener's initial state: its handshake key is its first ratchet key; it can send on its initial chain. */
export const initListener = (rootKey: Uint8Array, listenerInitialChain: Uint8Array, handshakeKey: EcdhKeyPair): RatchetState => ({
  dhs: handshakeKey,
  dhr: undefined,
  rk: rootKey,
  cks: listenerInitialChain,
  ckr: undefined,
  ns: 0,
  nr: 0,
  pn: 0,
  skipped: new Map()
})

export const encrypt = (
  p: Primitives,
  state: RatchetState,
  plaintext: Uint8Array,
  associatedData: Uint8Array
): { state: RatchetState; header: Uint8Array; ciphertext: Uint8Array } => {
  const [cks, mk] = kdfCk(p, state.cks!)
  const header = encodeHeader({ dh: state.dhs.publicKey, pn: state.pn, n: state.ns })
  const { key, nonce, okm } = aeadKeys(p, mk)
  const ciphertext = p.aead.seal(key, nonce, plaintext, concatBytes(associatedData, header))
  wipe(mk, okm, state.cks)
  return { state: { ...state, cks, ns: state.ns + 1 }, header, ciphertext }
}

/** Derives and stores the keys of messages up to `until` in the current receiving chain. */
const skipTo = (p: Primitives, state: RatchetState, until: number): RatchetState | RatchetFailure => {
  if (state.ckr === undefined || until <= state.nr) return state
  if (until - state.nr > MAX_SKIP) return "TooManySkipped"
  if (state.skipped.size + (until - state.nr) > MAX_SKIPPED_TOTAL) return "TooManySkipped"
  const skipped = new Map(state.skipped)
  let ckr = state.ckr
  let nr = state.nr
  while (nr < until) {
    const [next, mk] = kdfCk(p, ckr)
    skipped.set(skippedKey(state.dhr!, nr), mk)
    ckr = next
    nr++
  }
  return { ...state, ckr, nr, skipped }
}

export const decrypt = (
  p: Primitives,
  state: RatchetState,
  headerBytes: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array
): { state: RatchetState; plaintext: Uint8Array } | RatchetFailure => {
  const header = decodeHeader(headerBytes)
  if (header === undefined) return "BadKey"
  const ad = concatBytes(associatedData, headerBytes)
  const open = (mk: Uint8Array) => {
    const { key, nonce, okm } = aeadKeys(p, mk)
    const plaintext = p.aead.open(key, nonce, ciphertext, ad)
    wipe(okm)
    return plaintext
  }

  // a message that was skipped earlier: its key is used once, then forgotten
  const id = state.skipped.size > 0 ? skippedKey(header.dh, header.n) : ""
  const stored = state.skipped.size > 0 ? state.skipped.get(id) : undefined
  if (stored !== undefined) {
    const plaintext = open(stored)
    if (plaintext === undefined) return "Decrypt"
    const skipped = new Map(state.skipped)
    skipped.delete(id)
    wipe(stored)
    return { state: { ...state, skipped }, plaintext }
  }

  let next: RatchetState = state
  const sameChain = state.dhr !== undefined && Buffer.from(header.dh.buffer, header.dh.byteOffset, header.dh.length).equals(state.dhr)
  if (!sameChain) {
    // a new ratchet key from the peer: close the current receiving chain, then two DH steps
    const skippedOld = skipTo(p, next, header.pn)
    if (typeof skippedOld === "string") return skippedOld
    const dhOut1 = p.ecdh.sharedSecret(skippedOld.dhs.privateKey, header.dh)
    if (dhOut1 === undefined) return "BadKey"
    const [rk1, ckr] = kdfRk(p, skippedOld.rk, dhOut1)
    const dhs = p.ecdh.generate()
    const dhOut2 = p.ecdh.sharedSecret(dhs.privateKey, header.dh)!
    const [rk2, cks] = kdfRk(p, rk1, dhOut2)
    wipe(dhOut1, dhOut2, rk1)
    next = { ...skippedOld, dhs, dhr: header.dh, rk: rk2, cks, ckr, pn: skippedOld.ns, ns: 0, nr: 0 }
  } else if (header.n < state.nr) {
    // an old message whose key was used or never skipped: a replay or a duplicate
    return "Replay"
  }
  const skipped = skipTo(p, next, header.n)
  if (typeof skipped === "string") return skipped
  const [ckr, mk] = kdfCk(p, skipped.ckr!)
  const plaintext = open(mk)
  wipe(mk)
  if (plaintext === undefined) return "Decrypt"
  // success: erase what the old state held that the new one no longer needs
  if (!sameChain) wipe(state.dhs.privateKey === next.dhs.privateKey ? undefined : state.dhs.privateKey, state.rk)
  wipe(skipped.ckr)
  return { state: { ...skipped, ckr, nr: skipped.nr + 1 }, plaintext }
}
