import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { startChat } from "../src/layers/ChatDriver.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import * as V2Protocol from "../src/layers/V2Protocol.js"
import { frame } from "../src/layers/LengthPrefixFraming.js"
import { node } from "./support/sessions.js"

/**
 * A chat whose peer completes the handshake, reads the frames of `readFirst` texts of 5,000 characters (one
 * frame each), then never reads again; `text` is sent `count` times by a fiber of its own. How many of those
 * sends were accepted once they stopped (no new one for half a second after 1.5 s).
 */
const acceptedUntilStalled = (text: string, count: number, readFirst = 0) =>
  Effect.gen(function* () {
    const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
    const fc = frame(c)
    const fl = frame(l)
    const [session] = yield* Effect.all([V2Protocol.handshake(node, fc, "connector"), V2Protocol.handshake(node, fl, "listener")], {
      concurrency: 2
    })
    const chat = yield* startChat(fc, session, { emit: () => Effect.void, heartbeatMs: 0 })
    if (readFirst > 0) {
      let read = 0
      const reading = yield* Effect.fork(
        Effect.whileLoop({ while: () => read < readFirst, body: () => fl.readFrames, step: (frames) => void (read += frames.length) })
      )
      yield* Effect.forEach(Array.from({ length: readFirst }), () => chat.send("y".repeat(5_000)), { discard: true })
      yield* Fiber.join(reading)
    }
    let accepted = 0
    const sender = yield* Effect.fork(
      Effect.forEach(Array.from({ length: count }), () => Effect.map(chat.send(text), () => accepted++), { discard: true })
    )
    yield* Effect.sleep("1500 millis")
    const stalledAt = accepted
    yield* Effect.sleep("500 millis")
    yield* Fiber.interrupt(sender)
    return { stalledAt, accepted }
  })

describe("a peer that stops reading", () => {
  it.scopedLive("makes our sends wait instead of growing memory without bound", () =>
    Effect.gen(function* () {
      const heapBefore = process.memoryUsage().heapUsed
      const { stalledAt, accepted } = yield* acceptedUntilStalled("x".repeat(4000), 100_000)
      // sending has stopped: 100,000 x 4 KB (400 MB) were never taken in
      expect(accepted).toBe(stalledAt)
      expect(accepted).toBeLessThan(100_000)
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 2 ** 20)
    })
  )

  it.scopedLive("holds at most about a megabyte of long texts waiting to be encrypted, not a thousand of them", () =>
    Effect.gen(function* () {
      // a piped file's lines: 64 KiB each
      const { stalledAt, accepted } = yield* acceptedUntilStalled("x".repeat(64 * 1024), 2_000)
      expect(accepted).toBe(stalledAt)
      // what the transport holds, the megabyte sent but not taken by the peer, and about a megabyte waiting to
      // be encrypted: 40 texts here (with room for 1,024 texts whatever their length, 1,048 were accepted)
      expect(accepted).toBeLessThanOrEqual(48)
    })
  )

  it.scopedLive("holds the same megabyte after 15 MB the peer did read: every frame written is counted off once", () =>
    Effect.gen(function* () {
      const { stalledAt, accepted } = yield* acceptedUntilStalled("x".repeat(64 * 1024), 2_000, 3_000)
      expect(accepted).toBe(stalledAt)
      expect(accepted).toBeLessThanOrEqual(48)
    })
  )
})
