import { Context, type Effect, type Scope } from "effect"
import type { Endpoint } from "../domain/address.js"
import type { ConnectError, ListenError, TransportError } from "../domain/errors.js"

/**
 * A connected, ordered, reliable byte stream (TLS over TCP in production, a queue pair in tests).
 * One fiber reads, one fiber writes; `close` is idempotent and is also run by the scope that opened it.
 */
export interface Conn {
  readonly local: Endpoint
  readonly remote: Endpoint
  /** The next chunk of bytes; fails with reason "Eof" once the peer has closed its side. */
  readonly read: Effect.Effect<Uint8Array, TransportError>
  /**
   * Every chunk buffered, once at least `bytes` are (fewer only at the end of the stream; a stream may cap
   * `bytes` at what it buffers before pausing): a reader that knows how much it needs is woken once, not
   * for every piece the network delivers.
   */
  readonly readAtLeast?: (bytes: number) => Effect.Effect<ReadonlyArray<Uint8Array>, TransportError>
  /** Puts a chunk back in front of the stream (used after peeking at the first bytes). */
  readonly unread: (chunk: Uint8Array) => void
  /**
   * Resolves once the stream is done with the bytes (the caller may then reuse their memory); waits while
   * the peer is not reading (back-pressure).
   */
  readonly write: (data: Uint8Array) => Effect.Effect<void, TransportError>
  /**
   * Several chunks in one go, where the stream can gather them without joining them first (large frames).
   * Resolves, like `write`, once the stream is done with every chunk.
   */
  readonly writev?: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, TransportError>
  /** Flushes what was written, then ends the stream. */
  readonly close: Effect.Effect<void>
  /**
   * Keying material bound to this channel (RFC 5705 TLS exporter); both ends of one channel get the same
   * bytes and a relay that terminates the channel gets different ones. The caller owns the bytes returned,
   * fresh for each call: the v2 handshake zeroes them once it has used them.
   */
  readonly exportKeyingMaterial: (length: number, label: string) => Uint8Array
}

export interface Listener {
  /** Where it listens; the port is the real one when 0 was asked for. */
  readonly address: Endpoint
  /**
   * The next inbound connection whose transport-level handshake succeeded. Once the listener is closed, fails
   * with `listenerClosed()` (an accept then waiting too).
   */
  readonly accept: Effect.Effect<Conn, TransportError, Scope.Scope>
  /** Stops accepting: later attempts are refused by the operating system. */
  readonly close: Effect.Effect<void>
  /**
   * The next connection turned away before it was accepted because it does not speak the transport's own
   * protocol (plain text or HTTP where TLS belongs), so that whoever points the wrong program at the port can
   * be told why nothing happens. Connections closed or timed out during that handshake are not among them
   * (auto mode's own spare connections are). A few are held until taken, the rest of a flood dropped; taking
   * is interrupted once the listener is closed.
   */
  readonly turnedAway?: Effect.Effect<TurnedAway>
}

export interface TurnedAway {
  readonly remote: Endpoint
  readonly error: TransportError
}

export interface TransportOptions {
  /** Deadline for TCP connect plus the TLS handshake. */
  readonly connectTimeoutMs?: number
}

/** Opens connections and listeners. Scoped: closing the scope closes what was opened. */
export class Transport extends Context.Tag("p2pchat/Transport")<
  Transport,
  {
    readonly connect: (to: Endpoint, options?: TransportOptions) => Effect.Effect<Conn, ConnectError, Scope.Scope>
    readonly listen: (on: Endpoint) => Effect.Effect<Listener, ListenError, Scope.Scope>
    /**
     * The address `connect` would reach for a host name (an address stands for itself); undefined if the name
     * does not resolve. Auto mode orders the two sides by address, and each side knows the other by the name
     * it was given but itself by its address. Without it, names are compared as written.
     */
    readonly resolve?: (host: string) => Effect.Effect<string | undefined>
    /**
     * The address of this host that reaches `target` (its route's interface); undefined if none does. A side
     * listening on every address (0.0.0.0) is ordered by it: both sides so listening took themselves for the
     * lower side ("0.0.0.0" sorts first).
     */
    readonly localAddressTo?: (target: Endpoint) => Effect.Effect<string | undefined>
  }
>() {}
