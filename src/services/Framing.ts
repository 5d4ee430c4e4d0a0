import { Context, type Effect } from "effect"
import type { FrameError, TransportError } from "../domain/errors.js"
import type { Conn } from "./Transport.js"

/** A Conn seen as a sequence of length-prefixed frames (PROTOCOL.md, Framing). */
export interface FramedConn {
  readonly conn: Conn
  readonly maxFrame: number
  /** The next whole frame body. A frame cut by the end of the stream is a FrameError, not a short frame. */
  readonly readFrame: Effect.Effect<Uint8Array, FrameError | TransportError>
  /** Every frame already received (at least one, waiting for it if need be): one hand-off per network read. */
  readonly readFrames: Effect.Effect<ReadonlyArray<Uint8Array>, FrameError | TransportError>
  /**
   * Writes the frames with a single write call: coalescing is what makes small messages cheap. Completes
   * once the connection is done with the bodies: their memory may be reused from then on.
   */
  readonly writeFrames: (bodies: ReadonlyArray<Uint8Array>) => Effect.Effect<void, TransportError>
  /**
   * Frames read that the caller is done with (nothing refers to their bytes any more): their memory may hold
   * later frames. Optional both ways: an implementation may ignore it, a caller need not call it.
   */
  readonly recycle?: (frames: ReadonlyArray<Uint8Array>) => void
}

/** Turns connections into framed connections with a configured size ceiling. */
export class Framing extends Context.Tag("p2pchat/Framing")<
  Framing,
  { readonly maxFrame: number; readonly framed: (conn: Conn) => FramedConn }
>() {}
