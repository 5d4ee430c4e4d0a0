import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Layer, Option, Stream } from "effect"
import * as P2pchat from "p2pchat"

/** Two peers over the in-memory transport (its 256 KiB per direction stand in for socket buffers). */
const pair = (heartbeatMs: number, bobEvents?: P2pchat.PeerOptions["onEvents"]) =>
  Effect.gen(function* () {
    const network = yield* P2pchat.MemoryTransport.make
    const stack = Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer())
    const listen = { host: "memory-bob", port: 1 }
    const bob = yield* Effect.fork(
      P2pchat.open({ mode: "server", listen, heartbeatMs, ...(bobEvents ? { onEvents: bobEvents } : {}) }).pipe(Effect.provide(stack))
    )
    yield* Effect.sleep(5)
    const alice = yield* P2pchat.open({ mode: "client", target: listen, heartbeatMs }).pipe(Effect.provide(stack))
    return { alice, bob: yield* Effect.flatten(bob.await) }
  })

/** Alice sends `count` texts at once; every one must come back as bob's "echo: ..." answer, in order. */
const expectAllAnswered = (alice: P2pchat.PeerSession, count: number) =>
  Effect.gen(function* () {
    const echoes: Array<string> = []
    yield* Effect.fork(Stream.runForEach(alice.messages, (m) => Effect.sync(() => void echoes.push(m.text))))
    yield* Effect.fork(Effect.forEach(Array.from({ length: count }, (_, i) => alice.send(`${i}`)), (send) => send, { discard: true }))
    yield* waitFor(() => echoes.length === count, 20_000)
    expect(echoes.length).toBe(count)
    expect(echoes.every((e, i) => e === `echo: ${i}`)).toBe(true)
  })

/** Counts the `delivered` events of a session as they come. */
const deliveries = (session: P2pchat.PeerSession) =>
  Effect.gen(function* () {
    const count = { delivered: 0 }
    yield* Effect.fork(Stream.runForEach(session.events, (e) => Effect.sync(() => void (e._tag === "delivered" && count.delivered++))))
    return count
  })

const waitFor = (done: () => boolean, ms: number) =>
  Effect.gen(function* () {
    for (let waited = 0; waited < ms && !done(); waited += 20) yield* Effect.sleep(20)
  })

describe("a library subscriber slower than its peer", () => {
  it.scopedLive(
    "holds back reading from the peer instead of buffering: the peer's texts wait, the chat lives, and once the subscriber goes on every text arrives once, in order",
    () =>
      Effect.gen(function* () {
        const heartbeatMs = 150
        const { alice, bob } = yield* pair(heartbeatMs)
        const count = 20_000
        const textOf = (i: number) => `${i}:`.padEnd(1_000, "x")
        // a consumer that takes the first text, then stops until told (a bot stuck in slow work)
        const goOn = yield* Deferred.make<void>()
        const seen: Array<string> = []
        yield* Effect.fork(
          Stream.runForEach(bob.messages, (m) => (seen.push(m.text), seen.length === 1 ? Deferred.await(goOn) : Effect.void))
        )
        const sent = yield* deliveries(alice)
        const ended = yield* Effect.fork(Effect.race(alice.outcome, bob.outcome))
        yield* Effect.fork(Effect.forEach(Array.from({ length: count }, (_, i) => textOf(i)), (t) => alice.send(t), { discard: true }))
        // a dozen heartbeat intervals: the peer's silence while we do not read is not taken for a dead connection
        yield* Effect.sleep(12 * heartbeatMs)
        // 20 MB of text were on offer; what bob took in is bounded by about a megabyte of untaken text, plus what
        // the reader had read ahead (unbounded, all 20,000 were taken in and acknowledged)
        expect(seen.length).toBe(1)
        expect(sent.delivered).toBeGreaterThan(0)
        expect(sent.delivered).toBeLessThan(4_000)
        expect(yield* Fiber.poll(ended)).toEqual(Option.none())
        yield* Deferred.succeed(goOn, undefined)
        yield* waitFor(() => sent.delivered === count && seen.length === count, 20_000)
        expect(sent.delivered).toBe(count)
        expect(seen).toEqual(Array.from({ length: count }, (_, i) => textOf(i)))
        yield* alice.leave()
        expect((yield* alice.outcome)._tag).toBe("Left")
        expect((yield* bob.outcome)._tag).toBe("PeerLeft")
      }),
    30_000
  )

  it.scopedLive("short texts are bounded by their count: about 4,096 untaken, however few bytes they hold", () =>
    Effect.gen(function* () {
      const { alice, bob } = yield* pair(0)
      const count = 20_000
      const goOn = yield* Deferred.make<void>()
      const seen: Array<string> = []
      yield* Effect.fork(Stream.runForEach(bob.messages, (m) => (seen.push(m.text), seen.length === 1 ? Deferred.await(goOn) : Effect.void)))
      const sent = yield* deliveries(alice)
      yield* Effect.fork(Effect.forEach(Array.from({ length: count }, (_, i) => `${i}`), (t) => alice.send(t), { discard: true }))
      // until the receipts stop coming (at most 5 s)
      let last = -1
      for (let i = 0; i < 50 && sent.delivered !== last; i++) {
        last = sent.delivered
        yield* Effect.sleep(100)
      }
      // 120 KB of text in all, far under the bound in UTF-16 units: bounded by the count alone, all were taken in
      expect(sent.delivered).toBeGreaterThan(4_000)
      expect(sent.delivered).toBeLessThan(6_000)
      yield* Deferred.succeed(goOn, undefined)
      yield* waitFor(() => sent.delivered === count && seen.length === count, 20_000)
      expect(seen.length).toBe(count)
    }),
    30_000
  )

  it.scopedLive(
    "does not hold both sides when it waits on its own sends: a bot answering each of 40,000 texts sent at once answers them all",
    () =>
      Effect.gen(function* () {
        const { alice, bob } = yield* pair(1_000)
        // the README's echo bot: its answers wait for room, which waits for alice's receipts, which come in
        // frames behind alice's texts; reading stops for a lagging subscriber, so it must go on for those
        yield* Effect.fork(Stream.runForEach(bob.messages, (m) => bob.send(`echo: ${m.text}`).pipe(Effect.ignore)))
        yield* expectAllAnswered(alice, 40_000)
        yield* alice.leave()
        expect((yield* alice.outcome)._tag).toBe("Left")
      }),
    30_000
  )

  it.scopedLive("a lagging subscriber that goes away lets reading go on: the chat is not held for nobody", () =>
    Effect.gen(function* () {
      const { alice, bob } = yield* pair(0)
      const count = 20_000
      const seen: Array<string> = []
      // takes the first text, then never another (a consumer stuck for good), until it is interrupted
      const stuck = yield* Effect.fork(Stream.runForEach(bob.messages, (m) => (seen.push(m.text), seen.length === 1 ? Effect.never : Effect.void)))
      const sent = yield* deliveries(alice)
      yield* Effect.fork(Effect.forEach(Array.from({ length: count }, (_, i) => `${i}:`.padEnd(1_000, "x")), (t) => alice.send(t), { discard: true }))
      // until bob's reading is held: no receipt for 300 ms (at most 6 s)
      for (let i = 0, last = -1, still = 0; i < 300 && still < 15; i++, last = sent.delivered) {
        yield* Effect.sleep(20)
        still = sent.delivered === last && last > 0 ? still + 1 : 0
      }
      expect(sent.delivered).toBeLessThan(count)
      yield* Fiber.interrupt(stuck)
      yield* waitFor(() => sent.delivered === count, 20_000)
      expect(sent.delivered).toBe(count)
    }),
    30_000
  )
})

describe("a bot that answers from onEvents (which the chat waits for)", () => {
  it.scopedLive("answers every one of 5,000 texts that arrive at once, beyond the 1,024 sends that may wait", () =>
    Effect.gen(function* () {
      const bobSession = yield* Deferred.make<P2pchat.PeerSession>()
      // its sends wait for room that only the chat makes, and the chat waits for onEvents: they used to wait for
      // each other for good at the 1,025th answer of a round (0 of 5,000 answered)
      const onEvents = (events: ReadonlyArray<P2pchat.ChatEvent>) =>
        Effect.forEach(
          events,
          (e) => (e._tag === "message" ? Effect.flatMap(Deferred.await(bobSession), (bob) => Effect.ignore(bob.send(`echo: ${e.text}`))) : Effect.void),
          { discard: true }
        )
      const { alice, bob } = yield* pair(5_000, onEvents)
      yield* Deferred.succeed(bobSession, bob)
      yield* expectAllAnswered(alice, 5_000)
    }),
    30_000
  )
})

describe("an onEvents that holds the chat (a CLI whose output is read slowly)", () => {
  /**
   * Alice and bob over the in-memory transport, heartbeats off; bob's onEvents holds the chat from the first
   * batch with a message until `goOn`. `read.bytes`: what bob has read from the connection, less what went back
   * (the frame reader puts back what it peeked at).
   */
  const heldBob = Effect.gen(function* () {
    const network = yield* P2pchat.MemoryTransport.make
    const read = { bytes: 0 }
    const counted = (conn: P2pchat.Conn): P2pchat.Conn => ({
      ...conn,
      read: Effect.tap(conn.read, (chunk) => void (read.bytes += chunk.length)),
      ...(conn.readAtLeast !== undefined
        ? { readAtLeast: (n: number) => Effect.tap(conn.readAtLeast!(n), (chunks) => void chunks.forEach((c) => (read.bytes += c.length))) }
        : {}),
      unread: (chunk) => ((read.bytes -= chunk.length), conn.unread(chunk))
    })
    const bobTransport = Layer.succeed(P2pchat.Transport, {
      ...network,
      listen: (on) => Effect.map(network.listen(on), (l) => ({ ...l, accept: Effect.map(l.accept, counted) }))
    })
    const listen = { host: "memory-bob", port: 1 }
    const goOn = yield* Deferred.make<void>()
    const held = yield* Deferred.make<void>()
    // the messages of each batch of events the view was handed
    const shown: Array<number> = []
    const onEvents = (events: ReadonlyArray<P2pchat.ChatEvent>) => {
      const messages = events.filter((e) => e._tag === "message").length
      if (messages > 0) shown.push(messages)
      return messages > 0 ? Effect.zipRight(Deferred.succeed(held, undefined), Deferred.await(goOn)) : Effect.void
    }
    const bob = yield* Effect.fork(
      P2pchat.open({ mode: "server", listen, heartbeatMs: 0, onEvents }).pipe(Effect.provide(Layer.merge(bobTransport, P2pchat.protocolLayer())))
    )
    yield* Effect.sleep(5)
    const alice = yield* P2pchat.open({ mode: "client", target: listen, heartbeatMs: 0 }).pipe(
      Effect.provide(Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer()))
    )
    /** Until bob's reading stops (at most 5 s). */
    const readingStopped = Effect.gen(function* () {
      let last = -1
      for (let i = 0; i < 50 && read.bytes !== last; i++) {
        last = read.bytes
        yield* Effect.sleep(100)
      }
    })
    /** Lets bob's view go on; alice leaves, and both end as they should. */
    const end = Effect.gen(function* () {
      yield* Deferred.succeed(goOn, undefined)
      const bobSession = yield* Fiber.join(bob)
      yield* alice.leave()
      expect((yield* alice.outcome)._tag).toBe("Left")
      expect((yield* bobSession.outcome)._tag).toBe("PeerLeft")
    })
    return { alice, bob, read, held, goOn, shown, readingStopped, end }
  })

  it.scopedLive("the frames read ahead meanwhile are bounded in bytes: about 2 MiB of 64 KiB texts, not 64 network reads of them", () =>
    Effect.gen(function* () {
      const { alice, read, held, readingStopped, end } = yield* heldBob
      // 300 texts of 60,000 bytes (18 MB) at once; bob's view holds the chat from the first
      const text = "y".repeat(60_000)
      yield* Effect.fork(Effect.forEach(Array.from({ length: 300 }, () => text), (t) => alice.send(t), { discard: true }))
      yield* Deferred.await(held)
      yield* readingStopped
      // 2 MiB waiting, plus the batch over the line and the one in the view's hands. Bounded by 64 reads alone,
      // bob read all 18 MB: a read takes every frame there is
      expect(read.bytes).toBeGreaterThan(2 * 1024 * 1024)
      expect(read.bytes).toBeLessThan(3 * 1024 * 1024)
      yield* end
    }),
    30_000
  )

  it.scopedLive("what was read ahead meanwhile reaches the view in batches of a few thousand messages, not all at once", () =>
    Effect.gen(function* () {
      const { alice, held, goOn, shown, readingStopped, end } = yield* heldBob
      // 30,000 texts of 100 bytes at once: about 2 MiB of them are read ahead while bob's view holds the chat
      const count = 30_000
      const text = "z".repeat(100)
      yield* Effect.fork(Effect.forEach(Array.from({ length: count }, () => text), (t) => alice.send(t), { discard: true }))
      yield* Deferred.await(held)
      yield* readingStopped
      yield* Deferred.succeed(goOn, undefined)
      const total = () => shown.reduce((a, b) => a + b, 0)
      yield* waitFor(() => total() === count, 10_000)
      yield* end
      expect(total()).toBe(count)
      // a round hands the view what it has once it holds 2,048 events, plus at most one network read's worth
      // (the in-memory transport's 256 KiB: 2,560 of these texts); handed over in one round, all those read
      // ahead (about 20,000) were alive at once, and the receiver's young generation doubled to keep them
      expect(Math.max(...shown.slice(1))).toBeLessThan(2_048 + 2_560)
      expect(shown.length).toBeGreaterThan(5)
    }),
    30_000
  )

  it.scopedLive("and in network reads: short texts that come one read each stop being read after 64 reads, far below 2 MiB", () =>
    Effect.gen(function* () {
      const { alice, bob, read, held, readingStopped, end } = yield* heldBob
      // one text at a time, a few milliseconds apart: each comes to bob in a read of its own
      const count = 200
      const sending = yield* Effect.fork(
        Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => Effect.zipRight(alice.send(`short text ${i}`), Effect.sleep(5)), {
          discard: true
        })
      )
      yield* Deferred.await(held)
      const before = read.bytes
      yield* Fiber.join(sending)
      yield* readingStopped
      const readAhead = read.bytes - before
      // once bob's view goes on, every text is read
      const bobSession = yield* Fiber.join(bob)
      const all = yield* Effect.fork(Stream.runCollect(Stream.take(bobSession.messages, count)))
      yield* end
      expect(Chunk.size(yield* Fiber.join(all))).toBe(count)
      const readAll = read.bytes - before
      // 64 batches waiting, plus one over the line: about a third of the texts after the first (without the bound
      // on batches, all of them: 200 short texts are far below 2 MiB)
      expect(readAhead).toBeGreaterThan(0)
      expect(readAhead).toBeLessThan(readAll / 2)
    }),
    30_000
  )
})
