import { Effect, Layer } from "effect"
import { type FrameError, TransportError } from "../domain/errors.js"
import { DEFAULT_MAX_FRAME, encodeFrames, FrameDecoder } from "../domain/frame.js"
import { type FramedConn, Framing } from "../services/Framing.js"
import type { Conn } from "../services/Transport.js"

/** u32 big-endian length + body framing over any Conn, bounded by `maxFrame` before allocation. */
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
  // a bad frame right after good ones: the good ones are handed over first, the next read reports the error
  let pendingError: FrameError | undefined
  const readFrames: Effect.Effect<ReadonlyArray<Uint8Array>, FrameError | TransportError> = Effect.suspend(() =>
    pendingError
      ? Effect.fail(pendingError)
      : Effect.map(readFrame, (first) => {
          const frames = [first]
          for (let next = decoder.next(); next !== undefined; next = decoder.next()) {
            if (next instanceof Uint8Array) frames.push(next)
            else {
              pendingError = next
              break
            }
          }
          return frames
        })
  )
  return {
    conn,
    maxFrame,
    readFrame,
    readFrames,
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

export const layer = (maxFrame: number = DEFAULT_MAX_FRAME): Layer.Layer<Framing> =>
  Layer.succeed(Framing, { maxFrame, framed: (conn) => frame(conn, maxFrame) })
