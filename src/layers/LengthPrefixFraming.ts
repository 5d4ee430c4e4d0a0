import { Effect, Layer } from "effect"
import { type FrameError, TransportError } from "../domain/errors.js"
import { writeU32be } from "../domain/bytes.js"
import { DEFAULT_MAX_FRAME, encodeFrames, FrameDecoder, HEADER_BYTES, unfilled } from "../domain/frame.js"
import { type FramedConn, Framing } from "../services/Framing.js"
import type { Conn } from "../services/Transport.js"
import { FrameBuffers } from "./FrameBuffers.js"

/** Bodies from this size on are passed to the stream as they are; smaller ones are joined with their headers. */
const GATHER_FROM = 16 * 1024

/** Received frames of these sizes are assembled into reused buffers (a 64 KiB text's frame is under 72 KiB). */
const REUSED_FROM = 16 * 1024
const REUSED_BYTES = 80 * 1024
/** Free buffers kept for received frames (1.9 MiB at most). */
const REUSED_KEPT = 24

/**
 * The chunks of one write: small frames (and the headers of large ones) joined into buffers, large bodies
 * passed by reference, so a 64 KiB message is not copied once more just to put 4 bytes in front of it.
 */
export const gather = (bodies: ReadonlyArray<Uint8Array>): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  let small: Array<Uint8Array> = []
  for (const body of bodies) {
    if (body.length < GATHER_FROM) small.push(body)
    else {
      // the pending small frames, then this frame's header (an empty body: encodeFrames writes the length)
      const head = encodeFrames([...small, body.subarray(0, 0)])
      writeU32be(head, head.length - HEADER_BYTES, body.length)
      chunks.push(head, body)
      small = []
    }
  }
  if (small.length > 0) chunks.push(encodeFrames(small))
  return chunks
}

/** u32 big-endian length + body framing over any Conn, bounded by `maxFrame` before allocation. */
export const frame = (conn: Conn, maxFrame: number = DEFAULT_MAX_FRAME): FramedConn => {
  // Frames that span network chunks (a 64 KiB message's always do) are assembled into reused buffers once the
  // reader gives them back: a new 66 KB buffer each is memory V8 counts toward its next full collection.
  const buffers = new FrameBuffers(REUSED_FROM, REUSED_BYTES, REUSED_KEPT)
  const decoder = new FrameDecoder(maxFrame, (bytes) => (bytes < REUSED_FROM || bytes > REUSED_BYTES ? unfilled(bytes) : buffers.take(bytes)))
  const readFrame: Effect.Effect<Uint8Array, FrameError | TransportError> = Effect.suspend(() => {
    const next = decoder.next()
    if (next instanceof Uint8Array) return Effect.succeed(next)
    if (next !== undefined) return Effect.fail(next)
    const atEnd = (e: TransportError): Effect.Effect<never, FrameError | TransportError> => {
      if (e.reason !== "Eof") return Effect.fail(e)
      const cut = decoder.finish()
      return cut ? Effect.fail(cut) : Effect.fail(e)
    }
    // the rest of the frame at once where the connection can wait for it, else chunk by chunk
    if (conn.readAtLeast)
      return conn.readAtLeast(decoder.missing).pipe(
        Effect.catchTag("TransportError", atEnd),
        Effect.flatMap((chunks) => {
          for (const c of chunks) decoder.push(c)
          return readFrame
        })
      )
    return conn.read.pipe(
      Effect.catchTag("TransportError", atEnd),
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
      return conn.writev ? conn.writev(gather(bodies)) : conn.write(encodeFrames(bodies))
    },
    recycle: (frames) => buffers.give(frames)
  }
}

export const layer = (maxFrame: number = DEFAULT_MAX_FRAME): Layer.Layer<Framing> =>
  Layer.succeed(Framing, { maxFrame, framed: (conn) => frame(conn, maxFrame) })
