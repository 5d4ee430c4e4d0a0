import { Effect, Either, Layer, Schema } from "effect"
import { concatBytes, decodeUtf8, toHex, utf8, wipe } from "../domain/bytes.js"
import { HandshakeError, SessionError } from "../domain/errors.js"
import { pemFromPoint, pointFromPem } from "../domain/pem.js"
import { dumpsStringObject } from "../domain/pythonJson.js"
import { emptyStep, type Role, type Session, type SessionEvent, type Step } from "../domain/session.js"
import { startsWithMagic } from "../domain/version.js"
import type { EcdhKeyPair } from "../services/KeyAgreement.js"
import type { FramedConn } from "../services/Framing.js"
import { Handshake } from "../services/Handshake.js"
import { type Primitives, primitives } from "./Primitives.js"

/**
 * The `seed` protocol: byte-compatible with the original chat.py (PROTOCOL.md, Protocol `seed`).
 * Lock-step: after each message the sender waits for the receiver's fresh key before it may send again.
 */

const SALT_BYTES = 16
const NONCE_BYTES = 12
const KEY_BYTES = 32
const INFO_ENCRYPTION = utf8("encryption key")
const INFO_SUBKEY = utf8("sub-key")
const TYPE_MESSAGE = 0x00
const TYPE_RESPONSE = 0x01
export const SUITE = "ECDH P-384 + HKDF-SHA384 + ChaCha20-Poly1305, new key per message, lock-step, in TLS"

const hsError = (reason: HandshakeError["reason"], detail: string) => new HandshakeError({ protocol: "seed", reason, detail })
const sessionError = (reason: SessionError["reason"], detail: string) => new SessionError({ protocol: "seed", reason, detail })

const fingerprintOfPem = (p: Primitives, pem: string) => toHex(p.kdf.hash("sha256", utf8(pem)))

const v2Hint = "the peer speaks p2pchat's v2 protocol; leave out --protocol seed (v2 is the default)"

/** Parses the listener's first frame: 16-byte salt ‖ PEM. */
export const parseListenerHello = (frame: Uint8Array): Either.Either<{ salt: Uint8Array; point: Uint8Array; pem: string }, HandshakeError> => {
  if (startsWithMagic(frame)) return Either.left(hsError("WrongProtocol", v2Hint))
  if (frame.length <= SALT_BYTES) return Either.left(hsError("Malformed", "the peer's first frame is too short to hold a salt and a key"))
  const pem = decodeUtf8(frame.subarray(SALT_BYTES))
  const point = pem === undefined ? undefined : pointFromPem(pem)
  if (pem === undefined || point === undefined)
    return Either.left(hsError("Malformed", "the peer's first frame does not hold a P-384 public key in PEM form"))
  return Either.right({ salt: frame.slice(0, SALT_BYTES), point, pem })
}

/** Parses the connector's reply: PEM only. */
export const parseConnectorHello = (frame: Uint8Array): Either.Either<{ point: Uint8Array; pem: string }, HandshakeError> => {
  if (startsWithMagic(frame)) return Either.left(hsError("WrongProtocol", v2Hint))
  const pem = decodeUtf8(frame)
  const point = pem === undefined ? undefined : pointFromPem(pem)
  if (pem === undefined || point === undefined)
    return Either.left(hsError("Malformed", "the peer's reply does not hold a P-384 public key in PEM form"))
  return Either.right({ point, pem })
}

/** The JSON object inside a type-0x00 message; chat.py accepts any JSON with these keys, so do we. */
const MessageJson = Schema.parseJson(
  Schema.Struct({ message: Schema.String, salt: Schema.String, key: Schema.String, sub_salt: Schema.String })
)
const decodeMessageJson = Schema.decodeUnknownEither(MessageJson)

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
/** The bytes of strict base64 `text`, at most `maxBytes` of them (longer text is not even decoded). */
const base64Bytes = (text: string, maxBytes: number): Uint8Array | undefined => {
  if (text.length > Math.ceil(maxBytes / 3) * 4 || !STRICT_BASE64.test(text)) return undefined
  const bytes = Buffer.from(text, "base64")
  // 88 characters hold up to 66 bytes: the bound is the bytes' own
  return bytes.length > maxBytes ? undefined : new Uint8Array(bytes)
}
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")

interface Pending {
  readonly id: string
  readonly ephemeral: EcdhKeyPair
  readonly ratchetSalt: Uint8Array
  /** The key before the sub-key: kept only to recognise a crossing send. */
  readonly previousKey: Uint8Array
}

/**
 * Seed session state. `key` is the key the next frame in either direction is sealed with: the message key,
 * or while a reply is pending, the sub-key.
 */
export class SeedSession implements Session {
  private pending: Pending | undefined
  private readonly queue: Array<{ id: string; text: string }> = []
  private received = 0

  constructor(
    private readonly p: Primitives,
    private key: Uint8Array,
    readonly info: Session["info"]
  ) {}

  private forgotten = false

  /** Zeroes the session's keys (Session.forget); sealing or opening afterwards throws. */
  forget = (): void => {
    if (this.forgotten) return
    this.forgotten = true
    wipe(this.key, this.pending?.previousKey, this.pending?.ephemeral.privateKey)
  }

  /** Zero keys must never seal or open a frame: a use after `forget` is a bug, and said as one. */
  private live(): void {
    if (this.forgotten) throw new Error("a seed session was used after forget()")
  }

  private seal(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
    this.live()
    const nonce = this.p.random(NONCE_BYTES)
    return concatBytes(nonce, this.p.aead.seal(key, nonce, plaintext))
  }

  private open(key: Uint8Array, frame: Uint8Array): Uint8Array | undefined {
    this.live()
    if (frame.length < NONCE_BYTES + 16) return undefined
    return this.p.aead.open(key, frame.subarray(0, NONCE_BYTES), frame.subarray(NONCE_BYTES))
  }

  private transmit(id: string, text: string): Uint8Array {
    const ephemeral = (this.p.ecdh.generateAhead ?? this.p.ecdh.generate)()
    const ratchetSalt = this.p.random(SALT_BYTES)
    const subSalt = this.p.random(SALT_BYTES)
    const json = dumpsStringObject({
      message: text,
      salt: b64(ratchetSalt),
      key: b64(utf8(pemFromPoint(ephemeral.publicKey))),
      sub_salt: b64(subSalt)
    })
    const frame = this.seal(this.key, concatBytes(Uint8Array.of(TYPE_MESSAGE), utf8(json)))
    const subKey = this.p.kdf.hkdf("sha384", this.key, subSalt, INFO_SUBKEY, KEY_BYTES)
    this.pending = { id, ephemeral, ratchetSalt, previousKey: this.key }
    this.key = subKey
    return frame
  }

  private parseMessage(plain: Uint8Array) {
    const jsonText = decodeUtf8(plain.subarray(1))
    return jsonText === undefined ? undefined : Either.getOrUndefined(decodeMessageJson(jsonText))
  }

  send = (id: string, text: string): Step => {
    if (this.pending) {
      // lock-step: the peer's fresh key must arrive before the next message can be sealed
      this.queue.push({ id, text })
      return emptyStep
    }
    return { frames: [this.transmit(id, text)], events: [] }
  }

  leave = (_reason: string): Step => this.send("quit", "/quit")

  settled = (): boolean => this.pending === undefined && this.queue.length === 0

  receive = (frame: Uint8Array): Step | SessionError => {
    const pending = this.pending
    if (pending) {
      const plain = this.open(this.key, frame)
      if (plain === undefined) {
        const crossing = this.open(pending.previousKey, frame)
        if (crossing === undefined || crossing[0] !== TYPE_MESSAGE)
          return sessionError("Decrypt", "a frame failed authentication (altered, replayed or out of step)")
        // Both sides sent at once: the two key chains have split and cannot be joined again. The peer's message
        // is still authentic, so it is shown before the end. When either side was leaving, the chat ends as it
        // would have anyway: the peer's goodbye is its leaving; ours crossing a message shows the message (it was
        // dropped unseen, and the chat said the peer had left), and ends as our leave (the peer, reading our
        // goodbye, closes).
        const text = this.parseMessage(crossing)?.message
        if (text === "/quit") return { frames: [], events: [{ _tag: "PeerLeft", reason: "quit" }] }
        const shown: Array<SessionEvent> = text === undefined ? [] : [{ _tag: "Message", id: `in-${++this.received}`, text }]
        if (pending.id === "quit") return { frames: [], events: shown }
        return {
          frames: [],
          events: shown,
          fatal: sessionError(
            "Crossing",
            "both sides sent at the same moment, which the seed protocol cannot recover from (v2 can)"
          )
        }
      }
      if (plain[0] !== TYPE_RESPONSE) return sessionError("Malformed", "expected the peer's key reply, got another frame type")
      const pem = decodeUtf8(plain.subarray(1))
      const point = pem === undefined ? undefined : pointFromPem(pem)
      const shared = point === undefined ? undefined : this.p.ecdh.sharedSecret(pending.ephemeral.privateKey, point)
      if (shared === undefined) return sessionError("Malformed", "the peer's key reply does not hold a valid P-384 key")
      wipe(this.key, pending.previousKey, pending.ephemeral.privateKey)
      this.key = this.p.kdf.hkdf("sha384", shared, pending.ratchetSalt, INFO_ENCRYPTION, KEY_BYTES)
      wipe(shared)
      this.pending = undefined
      const events: Array<SessionEvent> = pending.id === "quit" ? [] : [{ _tag: "Delivered", ids: [pending.id] }]
      const next = this.queue.shift()
      return { frames: next ? [this.transmit(next.id, next.text)] : [], events }
    }

    const plain = this.open(this.key, frame)
    if (plain === undefined) return sessionError("Decrypt", "a frame failed authentication (altered, replayed or out of step)")
    if (plain[0] !== TYPE_MESSAGE) return sessionError("Malformed", "got a key reply while no message was pending")
    const decoded = this.parseMessage(plain)
    if (decoded === undefined) return sessionError("Malformed", "a message is not the JSON object the protocol defines")
    const subSalt = base64Bytes(decoded.sub_salt, 64)
    const ratchetSalt = base64Bytes(decoded.salt, 64)
    const pemBytes = base64Bytes(decoded.key, 1024)
    const pem = pemBytes === undefined ? undefined : decodeUtf8(pemBytes)
    const point = pem === undefined ? undefined : pointFromPem(pem)
    if (subSalt === undefined || ratchetSalt === undefined || point === undefined)
      return sessionError("Malformed", "a message carries a malformed salt or key")
    const ephemeral = (this.p.ecdh.generateAhead ?? this.p.ecdh.generate)()
    const shared = this.p.ecdh.sharedSecret(ephemeral.privateKey, point)
    if (shared === undefined) {
      wipe(ephemeral.privateKey)
      return sessionError("Malformed", "a message carries a key that is not on the P-384 curve")
    }
    const subKey = this.p.kdf.hkdf("sha384", this.key, subSalt, INFO_SUBKEY, KEY_BYTES)
    const reply = this.seal(subKey, concatBytes(Uint8Array.of(TYPE_RESPONSE), utf8(pemFromPoint(ephemeral.publicKey))))
    wipe(this.key, subKey, ephemeral.privateKey)
    this.key = this.p.kdf.hkdf("sha384", shared, ratchetSalt, INFO_ENCRYPTION, KEY_BYTES)
    wipe(shared)
    this.received++
    const event: SessionEvent =
      decoded.message === "/quit"
        ? { _tag: "PeerLeft", reason: "quit" }
        : { _tag: "Message", id: `in-${this.received}`, text: decoded.message }
    return { frames: [reply], events: [event] }
  }
}

/** The seed handshake (PROTOCOL.md steps 1-4). Randomness and keys come from `p`, so vectors can replay it. */
export const handshake = (p: Primitives, conn: FramedConn, role: Role) =>
  Effect.suspend(() => {
    // zeroed if the handshake fails or is interrupted before its shared secret is made
    const own = p.ecdh.generate()
    return handshakeWith(p, conn, role, own).pipe(Effect.onError(() => Effect.sync(() => wipe(own.privateKey))))
  })

const handshakeWith = (p: Primitives, conn: FramedConn, role: Role, own: EcdhKeyPair) =>
  Effect.gen(function* () {
    const ownPem = pemFromPoint(own.publicKey)
    let salt: Uint8Array
    let peer: { point: Uint8Array; pem: string }
    if (role === "listener") {
      salt = p.random(SALT_BYTES)
      yield* conn.writeFrames([concatBytes(salt, utf8(ownPem))])
      peer = yield* parseConnectorHello(yield* conn.readFrame)
    } else {
      const hello = yield* parseListenerHello(yield* conn.readFrame)
      salt = hello.salt
      peer = hello
      yield* conn.writeFrames([utf8(ownPem)])
    }
    const shared = p.ecdh.sharedSecret(own.privateKey, peer.point)
    if (shared === undefined) return yield* hsError("Malformed", "the peer's public key is not a valid P-384 point")
    const key = p.kdf.hkdf("sha384", shared, salt, INFO_ENCRYPTION, KEY_BYTES)
    wipe(shared, own.privateKey)
    return new SeedSession(p, key, {
      protocol: "seed",
      localFingerprint: fingerprintOfPem(p, ownPem),
      peerFingerprint: fingerprintOfPem(p, peer.pem),
      suite: SUITE
    })
  })

/** The seed protocol as the Handshake service, over whichever crypto layers are provided. */
export const layer = Layer.effect(
  Handshake,
  Effect.map(primitives, (p) =>
    Handshake.of({ protocol: "seed", run: (conn, role) => handshake(p, conn, role) })
  )
)
