import { Context, Effect, Layer } from "effect"
import { type FrameError, TransportError } from "../domain/errors.js"
import { DEFAULT_MAX_FRAME, encodeFrames, FrameDecoder } from "../domain/frame.js"
import type { Conn } from "./Transport.js"

/** A Conn seen as a sequence of length-prefixed frames (PROTOCOL.md, Framing). */
export interface FramedConn {
  readonly conn: Conn
  readonly maxFrame: number
  /** The next whole frame body. A frame cut by the end of the stream is a FrameError, not a short frame. */
  readonly readFrame: Effect.Effect<Uint8Array, FrameError | TransportError>
  /** Writes the frames with a single write call: coalescing is what makes small messages cheap. */
  readonly writeFrames: (bodies: ReadonlyArray<Uint8Array>) => Effect.Effect<void, TransportError>
}

export const frame = (conn: Conn, maxFrame: number = DEFAULT_MAX_FRAME): FramedConn => {
  const decoder = new FrameDecoder(maxFrame)
  const readFrame: Effect.Effect<Uint8Array, FrameError | TransportError> = Effect.suspend(() => {
    const next = decoder.next()
    if (next instanceof Uint8Array) return Effect.succeed(next)
    if (next !== undefined) return Effect.fail(next)
    return conn.read.pipe(
      Effect.catchTag("TransportError", (e): Effect.Effect<never, FrameError | TransportError> => {
        if (e.reason !== "Eof") return Effect.fail(e)
        const cut = decoder.finish()
        return cut ? Effect.fail(cut) : Effect.fail(e)
      }),
      Effect.flatMap((chunk) => {
        decoder.push(chunk)
        return readFrame
      })
    )
  })
  return {
    conn,
    maxFrame,
    readFrame,
    writeFrames: (bodies) => {
      for (const b of bodies) {
        // our own oversize frame would be refused by the peer: refuse it here with a clear cause
        if (b.length > maxFrame)
          return Effect.fail(new TransportError({ reason: "Write", detail: `frame of ${b.length} bytes exceeds ${maxFrame}` }))
      }
      return conn.write(encodeFrames(bodies))
    }
  }
}

/** Turns connections into framed connections with a configured size ceiling. */
export class Framing extends Context.Tag("p2pchat/Framing")<
  Framing,
  { readonly maxFrame: number; readonly framed: (conn: Conn) => FramedConn }
>() {
  static layer = (maxFrame: number = DEFAULT_MAX_FRAME): Layer.Layer<Framing> =>
    Layer.succeed(Framing, { maxFrame, framed: (conn) => frame(conn, maxFrame) })
}
