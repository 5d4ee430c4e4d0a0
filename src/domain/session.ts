import type { SessionError } from "./errors.js"

export type ProtocolName = "seed" | "v2"

/** Who opened the TCP connection. The listener speaks first in both protocols. */
export type Role = "connector" | "listener"

/** The shortest heartbeat interval taken (0, off, aside): silence for three of them ends a chat. */
export const MIN_HEARTBEAT_MS = 100

/** What the users must see once the handshake is done. */
export interface HandshakeInfo {
  readonly protocol: ProtocolName
  /** SHA-256 hex of our long-term or ephemeral public key (seed: the PEM bytes, as chat.py prints). */
  readonly localFingerprint: string
  readonly peerFingerprint: string
  /** Short authentication string to read aloud (v2 only). */
  readonly sas?: string
  /** One line naming the primitives, for the crypto summary. */
  readonly suite: string
}

/** What a protocol step reports upward; the chat turns these into user-visible events. */
export type SessionEvent =
  | { readonly _tag: "Message"; readonly id: string; readonly text: string; readonly sentAt?: number }
  | { readonly _tag: "Delivered"; readonly ids: ReadonlyArray<string> }
  | { readonly _tag: "PeerLeft"; readonly reason: string }
  | { readonly _tag: "Unsupported"; readonly kind: string }
  /** The peer's heartbeat asks for a sign of life: owed a `heartbeat(true)` unless something else goes out. */
  | { readonly _tag: "Asked" }

/** The result of one protocol step: frames to write (in order) and events to report. */
export interface Step {
  readonly frames: ReadonlyArray<Uint8Array>
  readonly events: ReadonlyArray<SessionEvent>
  /** The session cannot go on: report `events` first (nothing received is lost), then end with this error. */
  readonly fatal?: SessionError
}

export const emptyStep: Step = { frames: [], events: [] }

/**
 * An established session's protocol state. Not thread-safe by design: exactly one fiber (the chat's) applies
 * steps, so crossing sends cannot race on the ratchet.
 */
export interface Session {
  readonly info: HandshakeInfo
  /** Encrypts a text message (or queues it, where the protocol is lock-step). */
  readonly send: (id: string, text: string) => Step
  /** Encrypts several texts at once, in order; a protocol may pack them into fewer frames. */
  readonly sendMany?: (items: ReadonlyArray<{ readonly id: string; readonly text: string }>) => Step
  /** Decrypts one frame from the peer. An error ends the session: its state is no longer trusted. */
  readonly receive: (frame: Uint8Array) => Step | SessionError
  /**
   * Starts leaving: the authenticated goodbye (v2) or the "/quit" message (seed). Acknowledgements still owed
   * go with it, only the first `acknowledging` of them (`pendingFlush` order) when given: the rest are dropped,
   * as what they acknowledge was never shown.
   */
  readonly leave: (reason: string, acknowledging?: number) => Step
  /** True once nothing we sent awaits a protocol-level reply (seed's lock-step), so closing loses nothing. */
  readonly settled: () => boolean
  /** Frames owed for what was received (v2: one receipt listing every message received since the last). */
  readonly flush?: () => Step
  /** How many acknowledgements `flush` would send now. */
  readonly pendingFlush?: () => number
  /** A keep-alive frame for the heartbeat, where the protocol has one; `answer`: one that answers the peer's. */
  readonly heartbeat?: (answer?: boolean) => Step
  /**
   * Frames of ours the connection is done with (written): the session may reuse their memory for later
   * frames, so none of them may be read again by anyone.
   */
  readonly recycle?: (frames: ReadonlyArray<Uint8Array>) => void
  /**
   * Zeroes the keys the session holds, once the chat is over: its memory read later gives no key for the
   * frames of it that were never received. Sealing or opening a frame afterwards throws (a bug).
   */
  readonly forget?: () => void
}
