import type { Effect } from "effect"
import type { ChatError } from "../domain/errors.js"
import type { ChatEvent } from "../domain/events.js"
import type { HandshakeInfo } from "../domain/session.js"

/** How a chat ended. `undelivered` lists our message ids that the peer never acknowledged. */
export type ChatOutcome =
  | { readonly _tag: "Left"; readonly undelivered: ReadonlyArray<string> }
  | { readonly _tag: "PeerLeft"; readonly reason: string; readonly undelivered: ReadonlyArray<string> }
  | { readonly _tag: "Failed"; readonly error: ChatError; readonly undelivered: ReadonlyArray<string> }

/** Why a send was refused locally: nothing went on the wire. */
export interface SendRefused {
  readonly _tag: "SendRefused"
  readonly reason: "TooLong" | "Empty" | "Ended"
  readonly message: string
}

/** A running chat over an established session. One fiber owns the protocol state; these are safe from any. */
export interface ChatHandle {
  readonly info: HandshakeInfo
  /**
   * Queues a text message and returns its id; `sent` and later `delivered` events follow. Waits while
   * 1,024 texts already wait to be encrypted (the peer reads or acknowledges slowly); refused once the chat
   * is over. Every id returned ends up either `delivered` or in the outcome's `undelivered`.
   */
  readonly send: (text: string) => Effect.Effect<string, SendRefused>
  /**
   * Leaves the chat: waits (up to `drainMs`) for receipts of messages still in flight, then says goodbye.
   * With `extendOnReceipt`, each receipt starts that wait anew: it ends once `drainMs` pass without one, so
   * a slow link that is still delivering is waited for (a dead one is the heartbeat's to find).
   * Returns at once; `outcome` tells when it is over. A leave with `drainMs` 0 during an earlier one's wait
   * says goodbye at once.
   * With `viewGone` (and `drainMs` 0), whoever shows the events can show nothing more (its terminal hung up):
   * the goodbye goes out at once even while `onEvents` holds a batch it will never finish showing, and
   * acknowledges none of that batch, so the peer lists those messages as undelivered. Without it, a leave
   * waits for `onEvents` to return (it may be the one leaving, having read a message that asks it to).
   */
  readonly leave: (options?: {
    readonly drainMs?: number
    readonly extendOnReceipt?: boolean
    readonly viewGone?: boolean
  }) => Effect.Effect<void>
  /** Completes when the chat is over, for whatever reason. */
  readonly outcome: Effect.Effect<ChatOutcome>
}

/**
 * Lets whoever takes the events hold back reading from the peer without holding the chat (its sends,
 * receipts and heartbeats go on): the frames not read stay in the socket and TCP holds the peer back.
 */
export interface ReadGate {
  /**
   * Whether reading waits now. `receiptsWait`: our own sends are held until the peer acknowledges earlier
   * ones, and its receipts may be behind frames not read yet, so holding reading could hold both sides.
   */
  readonly holds: (receiptsWait: boolean) => boolean
  /** Opened by the gate's owner when `holds` may have turned false; the chat closes it before waiting. */
  readonly latch: Effect.Latch
}

export interface ChatOptions {
  /** Receives events in batches (one batch per round of protocol steps), in order. */
  readonly emit: (events: ReadonlyArray<ChatEvent>) => Effect.Effect<void>
  /**
   * Idle time after which a heartbeat is sent (protocols that have one); silence for more than 3x this ends the
   * chat, seen at the next beat (so within 4x).
   */
  readonly heartbeatMs?: number
  /** Consulted before each read from the peer; while it holds, the peer's silence is not held against it. */
  readonly readGate?: ReadGate
}
