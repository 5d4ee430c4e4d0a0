import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { startChat } from "../src/layers/ChatDriver.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import * as V2Protocol from "../src/layers/V2Protocol.js"
import { frame } from "../src/layers/LengthPrefixFraming.js"
import { node } from "./support/sessions.js"

describe("a peer that stops reading", () => {
  it.scopedLive("makes our sends wait instead of growing memory without bound", () =>
    Effect.gen(function* () {
      const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const fc = frame(c)
      // the listener completes the handshake, then never reads again
      const [session] = yield* Effect.all([V2Protocol.handshake(node, fc, "connector"), V2Protocol.handshake(node, frame(l), "listener")], {
        concurrency: 2
      })
      const chat = yield* startChat(fc, session, { emit: () => Effect.void, heartbeatMs: 0 })
      const heapBefore = process.memoryUsage().heapUsed
      let accepted = 0
      const text = "x".repeat(4000)
      const sender = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 100_000 }), () => Effect.map(chat.send(text), () => accepted++), { discard: true })
      )
      yield* Effect.sleep("1500 millis")
      const stalledAt = accepted
      yield* Effect.sleep("500 millis")
      // sending has stopped: 100,000 x 4 KB (400 MB) were never taken in
      expect(accepted).toBe(stalledAt)
      expect(accepted).toBeLessThan(100_000)
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 2 ** 20)
      yield* Fiber.interrupt(sender)
    })
  )

  it.scopedLive("holds at most about a megabyte of long texts waiting to be encrypted, not a thousand of them", () =>
    Effect.gen(function* () {
      const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const fc = frame(c)
      const [session] = yield* Effect.all([V2Protocol.handshake(node, fc, "connector"), V2Protocol.handshake(node, frame(l), "listener")], {
        concurrency: 2
      })
      const chat = yield* startChat(fc, session, { emit: () => Effect.void, heartbeatMs: 0 })
      let accepted = 0
      // a piped file's lines: 64 KiB each
      const text = "x".repeat(64 * 1024)
      const sender = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 2_000 }), () => Effect.map(chat.send(text), () => accepted++), { discard: true })
      )
      yield* Effect.sleep("1500 millis")
      const stalledAt = accepted
      yield* Effect.sleep("500 millis")
      expect(accepted).toBe(stalledAt)
      // what the transport holds, the megabyte sent but not taken by the peer, and about a megabyte waiting to
      // be encrypted: 40 texts here (with room for 1,024 texts whatever their length, 1,048 were accepted)
      expect(accepted).toBeLessThanOrEqual(48)
      yield* Fiber.interrupt(sender)
    })
  )
})
