import { Effect, Layer } from "effect"
// constant time (its time depends on the length only, never on where the bytes differ), audited
import { equalBytes } from "@noble/ciphers/utils.js"
import { concatBytes, readU32be, toHex, u32be, utf8, wipe } from "../domain/bytes.js"
import { HandshakeError, SessionError, type TransportError } from "../domain/errors.js"
import { decodePayloadBytes, encodePayload, MAX_BATCH, type Payload, PAYLOAD_VERSION } from "../domain/payload.js"
import { MAX_TEXT_BYTES } from "../domain/text.js"
import type { HandshakeInfo, Role, Session, SessionEvent, Step } from "../domain/session.js"
import { looksLikeSeedConnectorHello, looksLikeSeedListenerHello, otherP2pchatVersion, startsWithMagic, V2_MAGIC } from "../domain/version.js"
import type { EcdhKeyPair } from "../services/KeyAgreement.js"
import type { Conn } from "../services/Transport.js"
import type { FramedConn } from "../services/Framing.js"
import { Handshake } from "../services/Handshake.js"
import * as Ratchet from "./DoubleRatchet.js"
import { FrameBuffers } from "./FrameBuffers.js"
import { type Primitives, primitives } from "./Primitives.js"

/**
 * Protocol v2 (docs/PROTOCOL.md): a commit-then-reveal ECDH P-384 handshake bound to the TLS session, a short
 * authentication string, key confirmation both ways, then a Double Ratchet carrying padded, typed payloads.
 */

export const MSG = {
  announce: 0x01,
  commit: 0x02,
  helloListener: 0x03,
  helloConnector: 0x04,
  confirmConnector: 0x05,
  confirmListener: 0x06
} as const
export const SESSION_FRAME = 0x10

export const EXPORTER_LABEL = "EXPORTER-p2pchat-v2"
export const EXPORTER_BYTES = 32
const PUBLIC_BYTES = 97
const NONCE_BYTES = 32
const HASH_BYTES = 48
const INFO_TRANSCRIPT = utf8("p2pchat v2 transcript")
const INFO_KEYS = utf8("p2pchat v2 handshake")
const INFO_SAS = utf8("p2pchat v2 sas")
const LABEL_CONFIRM_CONNECTOR = utf8("connector confirms")
const LABEL_CONFIRM_LISTENER = utf8("listener confirms")
/** 26 bits: shown as eight decimal digits without modulo bias (2^26 < 10^8). */
export const SAS_BITS = 26
export const SUITE = "ECDH P-384 commit/reveal + Double Ratchet (HKDF/HMAC-SHA384, ChaCha20-Poly1305), padded, in TLS"

const hsError = (reason: HandshakeError["reason"], detail: string) => new HandshakeError({ protocol: "v2", reason, detail })

const message = (type: number, ...parts: ReadonlyArray<Uint8Array>) => concatBytes(V2_MAGIC, Uint8Array.of(type), ...parts)

/** Checks magic and type and the exact length; returns the body after the type byte. */
const expectFrame = (frame: Uint8Array, type: number, bodyBytes: number, what: string): Uint8Array | HandshakeError => {
  if (!startsWithMagic(frame) || frame[V2_MAGIC.length] !== type || frame.length !== V2_MAGIC.length + 1 + bodyBytes)
    return hsError("Malformed", `expected the peer's ${what}, got ${frame.length} bytes of something else`)
  return frame.subarray(V2_MAGIC.length + 1)
}

/** The connector reads the listener's first frame: who is on the other end? */
export const checkAnnounce = (frame: Uint8Array): HandshakeError | undefined => {
  if (startsWithMagic(frame)) {
    return frame[V2_MAGIC.length] === MSG.announce ? undefined : hsError("Malformed", "the peer's first frame is not a v2 greeting")
  }
  if (looksLikeSeedListenerHello(frame))
    return hsError(
      "WrongProtocol",
      "the peer speaks the seed protocol (the original chat.py or p2pchat --protocol seed); run with --protocol seed to talk to it"
    )
  const version = otherP2pchatVersion(frame)
  if (version !== undefined)
    return hsError("WrongProtocol", `the peer speaks p2pchat protocol version ${version}, this program speaks version 2`)
  return hsError("WrongProtocol", "the peer does not speak a p2pchat protocol")
}

const checkCommitFrame = (frame: Uint8Array): Uint8Array | HandshakeError => {
  if (looksLikeSeedConnectorHello(frame))
    return hsError("WrongProtocol", "the peer speaks the seed protocol; run with --protocol seed to talk to it")
  return expectFrame(frame, MSG.commit, HASH_BYTES, "commitment")
}

const lengthPrefixed = (frames: ReadonlyArray<Uint8Array>) => concatBytes(...frames.flatMap((f) => [u32be(f.length), f]))

/** Everything both sides derive from the handshake. Exported for the vector tests in docs/. */
export const deriveHandshake = (
  p: Primitives,
  exporter: Uint8Array,
  frames: { announce: Uint8Array; commit: Uint8Array; helloListener: Uint8Array; helloConnector: Uint8Array },
  sharedSecret: Uint8Array
) => {
  const transcript = p.kdf.hash(
    "sha384",
    concatBytes(
      INFO_TRANSCRIPT,
      exporter,
      lengthPrefixed([frames.announce, frames.commit, frames.helloListener, frames.helloConnector])
    )
  )
  const okm = p.kdf.hkdf("sha384", sharedSecret, transcript, INFO_KEYS, 128)
  const sasBytes = p.kdf.hkdf("sha384", sharedSecret, transcript, INFO_SAS, 4)
  const sasValue = readU32be(sasBytes, 0) >>> (32 - SAS_BITS)
  const digits = sasValue.toString().padStart(8, "0")
  const keys = {
    transcript,
    rootKey: okm.slice(0, 32),
    listenerChain: okm.slice(32, 64),
    confirmConnectorKey: okm.slice(64, 96),
    confirmListenerKey: okm.slice(96, 128),
    sas: `${digits.slice(0, 4)} ${digits.slice(4)}`
  }
  // the keys are copies: the buffer they came from would outlive their wiping
  wipe(okm, sasBytes)
  return keys
}

export const confirmMac = (p: Primitives, key: Uint8Array, role: Role, transcript: Uint8Array) =>
  p.kdf.hmac("sha384", key, concatBytes(role === "connector" ? LABEL_CONFIRM_CONNECTOR : LABEL_CONFIRM_LISTENER, transcript))

/** An orderly close by the peer in the middle of the handshake, explained. */
const closedDuring = (role: Role) => (e: TransportError): Effect.Effect<never, HandshakeError | TransportError> =>
  e.reason === "Eof"
    ? Effect.fail(
        hsError(
          "Closed",
          role === "listener"
            ? "the peer closed the connection during the handshake (if it runs the original chat.py or --protocol seed, use --protocol seed)"
            : "the peer closed the connection during the handshake"
        )
      )
    : Effect.fail(e)

export interface V2Options {
  /** Least time between two of our own DH ratchet steps (DoubleRatchet.ts explains why). Default 100 ms. */
  readonly minRotationMs?: number
}

export const handshake = (p: Primitives, framed: FramedConn, role: Role, options: V2Options = {}) =>
  Effect.suspend(() => {
    // the key pairs this handshake makes, the TLS exporter's bytes and the keys it derives: zeroed if it fails
    // or is interrupted (the exporter is wiped anyway once the keys are derived; a finished handshake hands the
    // keys on)
    const made: Array<EcdhKeyPair> = []
    let exporter: Uint8Array | undefined
    let derived: ReturnType<typeof deriveHandshake> | undefined
    const generate = () => {
      const pair = p.ecdh.generate()
      made.push(pair)
      return pair
    }
    return Effect.gen(function* () {
      const conn: Conn = framed.conn
      exporter = conn.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL)
      const read = framed.readFrame.pipe(Effect.catchTag("TransportError", closedDuring(role)))
      let frames: { announce: Uint8Array; commit: Uint8Array; helloListener: Uint8Array; helloConnector: Uint8Array }
      let own: EcdhKeyPair
      let ownHello: Uint8Array
      let peerPublic: Uint8Array
      // The listener's key pair (0.8 ms here) is made while its announcement travels, not before a message the
      // peer waits for. (Made in the thread pool instead: no faster over loopback, measured.)
      if (role === "connector") {
        own = generate()
        ownHello = message(MSG.helloConnector, own.publicKey, p.random(NONCE_BYTES))
        // The commitment goes out at once, not after the announcement: it depends on nothing the listener says,
        // and the listener wants it before it can answer (a round trip less). Sent to a seed listener, it starts
        // with our magic, so a p2pchat in seed mode says what we speak; the original chat.py fails on it as on
        // any key it cannot parse.
        const commit = message(MSG.commit, p.kdf.hash("sha384", ownHello))
        yield* framed.writeFrames([commit])
        const announce = yield* read
        const wrong = checkAnnounce(announce)
        if (wrong) return yield* wrong
        const helloListener = yield* read
        const body = expectFrame(helloListener, MSG.helloListener, PUBLIC_BYTES + NONCE_BYTES, "key")
        if (body instanceof HandshakeError) return yield* body
        peerPublic = body.slice(0, PUBLIC_BYTES)
        frames = { announce, commit, helloListener, helloConnector: ownHello }
        // our key at once, before our own ECDH: the listener computes its shared secret while we compute ours
        yield* framed.writeFrames([ownHello])
      } else {
        const announce = message(MSG.announce, Uint8Array.of(0))
        yield* framed.writeFrames([announce])
        // our key is made while the announcement makes its round trip
        own = generate()
        ownHello = message(MSG.helloListener, own.publicKey, p.random(NONCE_BYTES))
        const commit = yield* read
        const committed = checkCommitFrame(commit)
        if (committed instanceof HandshakeError) return yield* committed
        // our key goes out only now, after the connector is bound to its own
        yield* framed.writeFrames([ownHello])
        const helloConnector = yield* read
        const body = expectFrame(helloConnector, MSG.helloConnector, PUBLIC_BYTES + NONCE_BYTES, "key")
        if (body instanceof HandshakeError) return yield* body
        if (!equalBytes(p.kdf.hash("sha384", helloConnector), committed))
          return yield* hsError("Commitment", "the peer's key does not match what it committed to (a man in the middle?)")
        peerPublic = body.slice(0, PUBLIC_BYTES)
        frames = { announce, commit, helloListener: ownHello, helloConnector }
      }
      // an uncompressed point (PROTOCOL.md), whatever other forms the ECDH back end may read
      const shared = peerPublic[0] === 4 ? p.ecdh.sharedSecret(own.privateKey, peerPublic) : undefined
      if (shared === undefined) return yield* hsError("Malformed", "the peer's key is not a valid P-384 point")
      const keys = deriveHandshake(p, exporter, frames, shared)
      derived = keys
      // the connector's handshake key has done its one job (the listener's goes on as its first ratchet key):
      // kept, it and the transcript would give the listener's first chain to whoever later reads this memory.
      // The exporter too, now in the transcript: it is a secret of the TLS session, whose keys it would not give
      // away, but no later step needs it.
      wipe(shared, exporter, role === "connector" ? own.privateKey : undefined)
      const ownConfirm = message(
        role === "connector" ? MSG.confirmConnector : MSG.confirmListener,
        confirmMac(p, role === "connector" ? keys.confirmConnectorKey : keys.confirmListenerKey, role, keys.transcript)
      )
      const peerRole: Role = role === "connector" ? "listener" : "connector"
      const verifyPeer = (frame: Uint8Array) => {
        const body = expectFrame(frame, role === "connector" ? MSG.confirmListener : MSG.confirmConnector, HASH_BYTES, "key confirmation")
        if (body instanceof HandshakeError) return body
        const wanted = confirmMac(p, role === "connector" ? keys.confirmListenerKey : keys.confirmConnectorKey, peerRole, keys.transcript)
        return equalBytes(body, wanted)
          ? undefined
          : hsError("Confirmation", "the peer derived different keys (a changed handshake byte, or a relayed TLS session)")
      }
      let state: Ratchet.RatchetState
      if (role === "connector") {
        yield* framed.writeFrames([ownConfirm])
        // our first DH ratchet step waits for our first send (DoubleRatchet.initConnector says why)
        state = Ratchet.initConnector(keys.rootKey, keys.listenerChain, peerPublic)
        const bad = verifyPeer(yield* read)
        if (bad) return yield* bad
      } else {
        // ours before checking the connector's, as a TLS 1.3 server sends its Finished first: the two cross on the
        // way instead of taking a round trip one after the other. It proves we hold the keys, and tells whoever
        // derived other keys nothing about ours.
        yield* framed.writeFrames([ownConfirm])
        const bad = verifyPeer(yield* read)
        if (bad) return yield* bad
        state = Ratchet.initListener(keys.rootKey, keys.listenerChain, own)
      }
      wipe(keys.confirmConnectorKey, keys.confirmListenerKey)
      const info: HandshakeInfo = {
        protocol: "v2",
        localFingerprint: toHex(p.kdf.hash("sha256", own.publicKey)),
        peerFingerprint: toHex(p.kdf.hash("sha256", peerPublic)),
        sas: keys.sas,
        suite: SUITE
      }
      return new V2Session(p, state, keys.transcript, info, options.minRotationMs ?? Ratchet.MIN_ROTATION_MS)
    }).pipe(
      Effect.onError(() =>
        Effect.sync(() =>
          wipe(
            ...made.map((k) => k.privateKey),
            exporter,
            derived?.rootKey,
            derived?.listenerChain,
            derived?.confirmConnectorKey,
            derived?.confirmListenerKey
          )
        )
      )
    )
  })

const sessionError = (reason: SessionError["reason"], detail: string) => new SessionError({ protocol: "v2", reason, detail })

const RATCHET_FAILURE: Record<Ratchet.RatchetFailure, SessionError> = {
  Decrypt: sessionError("Decrypt", "a message failed authentication (altered or forged)"),
  Replay: sessionError("Replay", "a message arrived twice (replayed or duplicated)"),
  TooManySkipped: sessionError("TooManySkipped", `a message claims more than ${Ratchet.MAX_SKIP} missing messages before it`),
  BadKey: sessionError("Malformed", "a message header carries an invalid ratchet key")
}

/** Texts longer than this (UTF-16 units) are sent alone rather than batched. */
const BATCH_TEXT_UNITS = 4096

/**
 * The session's reused buffer for encoding payloads: room for the longest text (64 KiB of UTF-8, up to
 * three times that before its bytes are counted) and its metadata, padded.
 */
const PLAINTEXT_SCRATCH = 256 * 1024

/**
 * Frames from 16 KiB up are sealed into reused buffers of 80 KiB (a 64 KiB text's frame, padded, is under
 * 72 KiB); at most 24 are kept (1.9 MiB), about what is in flight while a bulk transfer runs.
 */
const FRAME_BUFFERS_FROM = 16 * 1024
const FRAME_BUFFER_BYTES = 80 * 1024
const FRAME_BUFFERS_KEPT = 24

/** Most ids in one receipt frame (the payload schema allows 4096). */
const RECEIPT_BATCH = 1024

/** v2 session: the ratchet state value, replaced (never mutated) by each step. */
export class V2Session implements Session {
  private receipts: Array<string> = []
  /**
   * Where payloads are encoded before they are sealed, reused: with a new 64 KiB buffer per frame the bulk
   * sender ran a full collection every ~150 frames on a 15 MB heap (V8 counts buffer memory allocated
   * since the last full collection against the old generation's limit); measured, 381 -> 347 µs of CPU per
   * 64 KiB frame with this buffer.
   */
  private readonly plaintexts = Buffer.alloc(PLAINTEXT_SCRATCH)
  /** Large frames are sealed into buffers that come back through `recycle` once written. */
  private readonly frameBuffers = new FrameBuffers(FRAME_BUFFERS_FROM, FRAME_BUFFER_BYTES, FRAME_BUFFERS_KEPT)
  private readonly frameBuffer = (bytes: number) => this.frameBuffers.take(bytes)

  constructor(
    private readonly p: Primitives,
    private state: Ratchet.RatchetState,
    private readonly transcript: Uint8Array,
    readonly info: HandshakeInfo,
    private readonly minRotationMs: number = Ratchet.MIN_ROTATION_MS
  ) {}

  /** The current ratchet state (for tests of forward secrecy and healing). */
  get ratchetState(): Ratchet.RatchetState {
    return this.state
  }

  private forgotten = false

  /** Zeroes the ratchet's keys (Session.forget); sealing or opening afterwards throws. */
  forget = (): void => {
    if (this.forgotten) return
    this.forgotten = true
    Ratchet.forget(this.state)
  }

  /** Zero keys must never seal or open a frame: a use after `forget` is a bug, and said as one. */
  private live(): void {
    if (this.forgotten) throw new Error("a v2 session was used after forget()")
  }

  seal(payload: Payload): Uint8Array {
    this.live()
    const plaintext = encodePayload(payload, this.plaintexts)
    const { state, sealed } = Ratchet.encrypt(
      this.p,
      this.state,
      plaintext,
      this.transcript,
      this.minRotationMs,
      // the interval between DH steps on a clock that only goes forward: a wall clock set back an hour held
      // the ratchet's next step (and so its healing) back for that hour
      performance.now(),
      1,
      this.frameBuffer
    )
    // zeros again for the next frame, and no plaintext left behind
    if (plaintext.buffer === this.plaintexts.buffer) wipe(plaintext)
    this.state = state
    sealed[0] = SESSION_FRAME
    return sealed
  }

  send = (id: string, text: string): Step => ({
    frames: [this.seal({ v: PAYLOAD_VERSION, kind: "text", id, sentAt: Date.now(), body: text })],
    events: []
  })

  /**
   * Several texts at once: consecutive texts share a frame (payload `texts`) up to MAX_BATCH of them or
   * MAX_TEXT_BYTES of text; a text that fills a frame alone goes as a plain `text`.
   */
  sendMany = (items: ReadonlyArray<{ readonly id: string; readonly text: string }>): Step => {
    const frames: Array<Uint8Array> = []
    const sentAt = Date.now()
    let batch: Array<{ readonly id: string; readonly text: string }> = []
    let bytes = 0
    const seal = () => {
      if (batch.length === 1) frames.push(this.seal({ v: PAYLOAD_VERSION, kind: "text", id: batch[0]!.id, sentAt, body: batch[0]!.text }))
      else if (batch.length > 1)
        frames.push(
          this.seal({ v: PAYLOAD_VERSION, kind: "texts", sentAt, ids: batch.map((i) => i.id), bodies: batch.map((i) => i.text) })
        )
      batch = []
      bytes = 0
    }
    for (const item of items) {
      // a large text goes alone (batching only pays for small ones), without counting its UTF-8 bytes here
      if (item.text.length > BATCH_TEXT_UNITS) {
        seal()
        batch.push(item)
        seal()
        continue
      }
      const size = Buffer.byteLength(item.text, "utf8")
      if (batch.length >= MAX_BATCH || bytes + size > MAX_TEXT_BYTES) seal()
      batch.push(item)
      bytes += size
    }
    seal()
    return { frames, events: [] }
  }

  pendingFlush = (): number => this.receipts.length

  flush = (): Step => {
    if (this.receipts.length === 0) return { frames: [], events: [] }
    const frames: Array<Uint8Array> = []
    for (let i = 0; i < this.receipts.length; i += RECEIPT_BATCH)
      frames.push(this.seal({ v: PAYLOAD_VERSION, kind: "receipt", ids: this.receipts.slice(i, i + RECEIPT_BATCH) }))
    this.receipts = []
    return { frames, events: [] }
  }

  leave = (reason: string, acknowledging = Infinity): Step => {
    if (acknowledging < this.receipts.length) this.receipts.length = Math.max(0, acknowledging)
    const receipts = this.flush()
    return { frames: [...receipts.frames, this.seal({ v: PAYLOAD_VERSION, kind: "goodbye", reason: reason.slice(0, 200) })], events: [] }
  }

  heartbeat = (answer = false): Step => ({
    frames: [this.seal(answer ? { v: PAYLOAD_VERSION, kind: "heartbeat", answer } : { v: PAYLOAD_VERSION, kind: "heartbeat" })],
    events: []
  })

  recycle = (frames: ReadonlyArray<Uint8Array>): void => this.frameBuffers.give(frames)

  settled = (): boolean => true

  receive = (frame: Uint8Array): Step | SessionError => {
    this.live()
    if (frame.length < 1 + Ratchet.HEADER_BYTES + 16 || frame[0] !== SESSION_FRAME)
      return sessionError("Malformed", "a frame is not a v2 message")
    const header = frame.subarray(1, 1 + Ratchet.HEADER_BYTES)
    const ciphertext = frame.subarray(1 + Ratchet.HEADER_BYTES)
    const opened = Ratchet.decrypt(this.p, this.state, header, ciphertext, this.transcript)
    if (typeof opened === "string") return RATCHET_FAILURE[opened]
    // authenticated: from here on the step is committed even if the content is odd
    this.state = opened.state
    const decoded = decodePayloadBytes(opened.plaintext)
    const events: Array<SessionEvent> = []
    if (decoded._tag === "BadPadding") return sessionError("Malformed", "a message's padding is invalid")
    if (decoded._tag === "Malformed") return sessionError("Malformed", "a message's content does not match the payload schema")
    if (decoded._tag === "Unknown") events.push({ _tag: "Unsupported", kind: decoded.kind })
    else {
      const payload = decoded.payload
      switch (payload.kind) {
        case "text":
          this.receipts.push(payload.id)
          events.push({ _tag: "Message", id: payload.id, text: payload.body, sentAt: payload.sentAt })
          break
        case "texts":
          for (let i = 0; i < payload.ids.length; i++) {
            this.receipts.push(payload.ids[i]!)
            events.push({ _tag: "Message", id: payload.ids[i]!, text: payload.bodies[i]!, sentAt: payload.sentAt })
          }
          break
        case "receipt":
          events.push({ _tag: "Delivered", ids: payload.ids })
          break
        case "goodbye":
          events.push({ _tag: "PeerLeft", reason: payload.reason })
          break
        case "heartbeat":
          if (payload.answer !== true) events.push({ _tag: "Asked" })
          break
      }
    }
    return { frames: [], events }
  }
}

/** The v2 protocol as the Handshake service, over whichever crypto layers are provided. */
export const layer = Layer.effect(
  Handshake,
  Effect.map(primitives, (p) => Handshake.of({ protocol: "v2", run: (conn, role) => handshake(p, conn, role) }))
)
