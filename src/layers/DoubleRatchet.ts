import { concatBytes, readU32be, toHex, utf8, wipe, writeU32be } from "../domain/bytes.js"
import type { EcdhKeyPair } from "../services/KeyAgreement.js"
import { TAG_BYTES } from "../services/Cipher.js"
import type { Primitives } from "./Primitives.js"

/**
 * The Double Ratchet (Perrin & Marlinspike, "The Double Ratchet Algorithm", rev. 1, 2016) over P-384:
 * DH = ECDH P-384, KDF_RK = HKDF-SHA384, KDF_CK = HMAC-SHA384 with distinct constants for the message key
 * (0x01) and the next chain key (0x02), AEAD = ChaCha20-Poly1305 with key and nonce taken from the
 * message key. Steps are functions from a state value to a new state value: a failed decryption returns
 * nothing new, so it cannot corrupt the session, and zeroes the keys it derived on the way. After a successful
 * step the old state's secrets are wiped: the caller must only go on with the returned state.
 *
 * One departure in timing, not in the wire format: the specification makes a new sending key pair as soon
 * as a new peer key arrives. Here the receiving half of that DH step happens on arrival, and the sending
 * half on our next send, but not sooner than `minRotationMs` after our previous one. A conversation whose
 * turns are slower than that (any typed chat) ratchets exactly as specified; a bulk transfer whose
 * receipts come back every few milliseconds does not spend a P-384 key generation and two ECDHs per round
 * trip. Post-compromise healing waits at most that long. A peer that rotates on every turn interoperates:
 * the header's PN and DH say which chain a message is on either way.
 */

/** Most message keys skipped within one chain (a peer cannot make us derive millions of keys). */
export const MAX_SKIP = 1000
/** Most skipped message keys stored in all, across chains. */
export const MAX_SKIPPED_TOTAL = 2000
export const HEADER_BYTES = 97 + 4 + 4

const INFO_ROOT = utf8("p2pchat v2 root")
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
  /**
   * A new peer key arrived since our last sending key pair (or, for the connector, none of ours exists yet): the
   * next send (when due) makes a new one.
   */
  readonly rotationDue: boolean
  /**
   * When our sending key pair was made, in ms on a clock that only goes forward (`performance.now()`, not the wall
   * clock, which can be set back); -Infinity for each side's first.
   */
  readonly rotatedAt: number
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
  writeU32be(out, 97, h.pn)
  writeU32be(out, 101, h.n)
  return out
}

export const decodeHeader = (bytes: Uint8Array): Header | undefined => {
  if (bytes.length !== HEADER_BYTES || bytes[0] !== 0x04) return undefined
  return { dh: bytes.subarray(0, 97), pn: readU32be(bytes, 97), n: readU32be(bytes, 101) }
}

const kdfRk = (p: Primitives, rk: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] => {
  const out = p.kdf.hkdf("sha384", dhOut, rk, INFO_ROOT, 64)
  const keys: [Uint8Array, Uint8Array] = [out.slice(0, 32), out.slice(32, 64)]
  wipe(out)
  return keys
}

/** Next chain key (32 bytes) and message key (the whole 48-byte HMAC output). */
const kdfCk = (p: Primitives, ck: Uint8Array): [Uint8Array, Uint8Array] => [
  p.kdf.hmac("sha384", ck, CHAIN_KEY_CONSTANT).subarray(0, 32),
  p.kdf.hmac("sha384", ck, MESSAGE_KEY_CONSTANT)
]

/**
 * The message key is a 48-byte PRF output used for one message only: its first 32 bytes are the AEAD key and
 * the next 12 the nonce. A further KDF step here (there was one) only cost a third HMAC per message on the
 * hot path without adding independence that mk does not already have.
 */
const seal = (p: Primitives, mk: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, headroom: number, out?: Uint8Array) =>
  p.aead.seal(mk.subarray(0, 32), mk.subarray(32, 44), plaintext, ad, headroom, out)
const open = (p: Primitives, mk: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array) =>
  p.aead.open(mk.subarray(0, 32), mk.subarray(32, 44), ciphertext, ad)

/** Default least time between two of our own DH ratchet steps (see the note at the top). */
export const MIN_ROTATION_MS = 100

const skippedKey = (dh: Uint8Array, n: number) => `${toHex(dh)}:${n}`

/**
 * The connector's initial state: its receiving chain starts from the listener's initial sending chain, and its
 * first DH step (`RK, CKs = KDF_RK(RK0, ECDH(DHs, pub_L))` with a new DHs) is due at its first send, made there
 * by the same code as every later sending half. Both sides can still send from the first moment; the chat is
 * ready one key pair and one ECDH (2 ms here) sooner; the root key and chain it yields are the same as if made
 * at once; and a copy of this state taken before that send holds no key of the connector's first chain.
 */
export const initConnector = (rootKey: Uint8Array, listenerInitialChain: Uint8Array, listenerPublic: Uint8Array): RatchetState => ({
  // no key pair of ours yet: never used before `rotate` replaces it (a header from a peer key we never answered
  // is refused in `decrypt`, as no honest peer can send one)
  dhs: { privateKey: new Uint8Array(0), publicKey: new Uint8Array(0) },
  dhr: listenerPublic,
  rk: rootKey,
  cks: undefined,
  ckr: listenerInitialChain,
  ns: 0,
  nr: 0,
  pn: 0,
  rotationDue: true,
  rotatedAt: -Infinity,
  skipped: new Map()
})

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
  rotationDue: false,
  rotatedAt: -Infinity,
  skipped: new Map()
})

/** The sending half of a DH ratchet step: a new key pair, and a sending chain from it and the peer's key. */
const rotate = (p: Primitives, state: RatchetState, now: number): RatchetState => {
  const dhs = p.ecdh.generate()
  const dhOut = p.ecdh.sharedSecret(dhs.privateKey, state.dhr!)!
  const [rk, cks] = kdfRk(p, state.rk, dhOut)
  wipe(dhOut, state.rk, state.cks, state.dhs.privateKey)
  return { ...state, dhs, rk, cks, pn: state.ns, ns: 0, rotationDue: false, rotatedAt: now }
}

/**
 * Encrypts one message. The result is `before` free bytes (for the caller's frame type), the header, then
 * ciphertext ‖ tag: one buffer, so a 64 KiB message is not copied again to be framed. `alloc` gives that
 * buffer (the caller may reuse its buffers), a new one by default.
 */
export const encrypt = (
  p: Primitives,
  current: RatchetState,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
  minRotationMs: number = MIN_ROTATION_MS,
  now: number = performance.now(),
  before: number = 0,
  alloc?: (bytes: number) => Uint8Array
): { state: RatchetState; sealed: Uint8Array } => {
  // no sending chain yet (the connector's first send) makes one whatever the interval says
  const due = current.cks === undefined || (current.rotationDue && now - current.rotatedAt >= minRotationMs)
  const state = due ? rotate(p, current, now) : current
  const [cks, mk] = kdfCk(p, state.cks!)
  const header = encodeHeader({ dh: state.dhs.publicKey, pn: state.pn, n: state.ns })
  const headroom = before + HEADER_BYTES
  const sealed = seal(p, mk, plaintext, concatBytes(associatedData, header), headroom, alloc?.(headroom + plaintext.length + TAG_BYTES))
  sealed.set(header, before)
  wipe(mk, state.cks)
  return { state: { ...state, cks, ns: state.ns + 1 }, sealed }
}

/** Zeroes every secret a state holds (the session is over): root, chain and skipped message keys, our DH key. */
export const forget = (state: RatchetState): void => {
  wipe(state.rk, state.cks, state.ckr, state.dhs.privateKey)
  for (const mk of state.skipped.values()) wipe(mk)
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
    // the state's own chain key stays whole until the caller knows the step succeeded
    if (ckr !== state.ckr) wipe(ckr)
    ckr = next
    nr++
  }
  return { ...state, ckr, nr, skipped }
}

/**
 * A failed step's clean-up: zeroes the keys `tried` holds that `kept`, the state the caller goes on with, does
 * not (a root and chain key derived on the way, message keys stored for messages skipped), and the chain keys
 * `walkedPast` other than kept's own, then returns `failure`. A forged or corrupt message must not leave keys
 * of our real chains behind in memory.
 */
const discard = (
  kept: RatchetState,
  tried: RatchetState,
  failure: RatchetFailure,
  ...walkedPast: ReadonlyArray<Uint8Array | undefined>
): RatchetFailure => {
  if (tried.rk !== kept.rk) wipe(tried.rk)
  for (const ck of [tried.ckr, ...walkedPast]) if (ck !== kept.ckr) wipe(ck)
  if (tried.skipped !== kept.skipped) for (const [id, mk] of tried.skipped) if (kept.skipped.get(id) !== mk) wipe(mk)
  return failure
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

  // a message that was skipped earlier: its key is used once, then forgotten
  const id = state.skipped.size > 0 ? skippedKey(header.dh, header.n) : ""
  const stored = state.skipped.size > 0 ? state.skipped.get(id) : undefined
  if (stored !== undefined) {
    const plaintext = open(p, stored, ciphertext, ad)
    if (plaintext === undefined) return "Decrypt"
    const skipped = new Map(state.skipped)
    skipped.delete(id)
    wipe(stored)
    return { state: { ...state, skipped }, plaintext }
  }

  let next: RatchetState = state
  let closed: Uint8Array | undefined
  const sameChain = state.dhr !== undefined && Buffer.from(header.dh.buffer, header.dh.byteOffset, header.dh.length).equals(state.dhr)
  if (!sameChain) {
    // a connector that has not sent yet has no key pair of its own: the listener cannot have seen one to answer
    if (state.cks === undefined) return "BadKey"
    // a new ratchet key from the peer: close the current receiving chain, then the receiving half of a DH
    // step; the sending half waits for our next send
    const skippedOld = skipTo(p, next, header.pn)
    if (typeof skippedOld === "string") return skippedOld
    const dhOut = p.ecdh.sharedSecret(skippedOld.dhs.privateKey, header.dh)
    if (dhOut === undefined) return discard(state, skippedOld, "BadKey")
    const [rk, ckr] = kdfRk(p, skippedOld.rk, dhOut)
    wipe(dhOut)
    closed = skippedOld.ckr
    next = { ...skippedOld, dhr: header.dh.slice(), rk, ckr, nr: 0, rotationDue: true }
  } else if (header.n < state.nr) {
    // an old message whose key was used or never skipped: a replay or a duplicate
    return "Replay"
  }
  const skipped = skipTo(p, next, header.n)
  if (typeof skipped === "string") return discard(state, next, skipped, closed)
  const [ckr, mk] = kdfCk(p, skipped.ckr!)
  const plaintext = open(p, mk, ciphertext, ad)
  wipe(mk)
  // the chain keys this step walked past: the one after the message's, the closed chain's last, the new chain's first
  if (plaintext === undefined) return discard(state, skipped, "Decrypt", ckr, closed, next.ckr)
  // success: erase what the old state held that the new one no longer needs: its root key if a DH step
  // happened, and every chain key passed on the way (the closed chain's last one, the new chain's first)
  if (!sameChain) wipe(state.rk)
  wipe(state.ckr, closed, next.ckr, skipped.ckr)
  return { state: { ...skipped, ckr, nr: skipped.nr + 1 }, plaintext }
}
