import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, type Fiber, Scope } from "effect"
import type { ConnectError, TransportError } from "../src/domain/errors.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import { acceptsFailOnceClosed, listenerClosedError } from "./support/listener-contract.js"

// The in-memory transport is exported for other programs' tests: it must behave as a socket would, so that a
// test passing over it means what it would over TCP.
describe("the in-memory transport", () => {
  const a = { host: "a", port: 1 }
  const b = { host: "b", port: 2 }

  it.effect("a written buffer is copied: the writer may reuse it at once, the reader gets what was written", () =>
    Effect.gen(function* () {
      const [x, y] = yield* MemoryTransport.makePair(a, b)
      const buffer = Uint8Array.of(1, 2, 3)
      yield* x.write(buffer)
      buffer.fill(9)
      expect(yield* y.read).toEqual(Uint8Array.of(1, 2, 3))
    })
  )

  it.live("after the peer's close, every read says the end (none waits), and our writes on a closed end fail", () =>
    Effect.gen(function* () {
      const [x, y] = yield* MemoryTransport.makePair(a, b)
      yield* x.close
      for (let i = 0; i < 2; i++) expect(yield* Effect.flip(y.read.pipe(Effect.timeout("2 seconds")))).toMatchObject({ _tag: "TransportError", reason: "Eof" })
      expect(yield* Effect.flip(x.write(Uint8Array.of(1)))).toMatchObject({ _tag: "TransportError", reason: "Write" })
    })
  )

  it.scoped("an address listened on twice is in use; closing the first listener leaves the second's address to it", () =>
    Effect.gen(function* () {
      const network = yield* MemoryTransport.make
      const first = yield* network.listen(b)
      expect(yield* Effect.flip(network.listen(b))).toMatchObject({ _tag: "ListenError", reason: "AddressInUse" })
      yield* first.close
      const second = yield* network.listen(b)
      // a stale close of the first must not take the address from the second
      yield* first.close
      yield* Effect.scoped(network.connect(b))
      expect(yield* Effect.scoped(second.accept)).toBeDefined()
    })
  )

  it.scoped("port 0 listens on a free port of its own, as over TCP: two such listeners each get theirs, and are reached there", () =>
    Effect.gen(function* () {
      const network = yield* MemoryTransport.make
      const [one, two] = yield* Effect.all([network.listen({ host: "b", port: 0 }), network.listen({ host: "b", port: 0 })])
      expect(one.address.port).not.toBe(0)
      expect(two.address.port).not.toBe(0)
      expect(two.address.port).not.toBe(one.address.port)
      const ours = yield* network.connect(two.address)
      const theirs = yield* two.accept
      yield* ours.write(Uint8Array.of(2))
      expect(yield* theirs.read).toEqual(Uint8Array.of(2))
    })
  )

  it.scopedLive("a connection's scope closes its end: the peer reads the end", () =>
    Effect.gen(function* () {
      const network = yield* MemoryTransport.make
      const listener = yield* network.listen(b)
      const scope = yield* Scope.make()
      yield* network.connect(b).pipe(Scope.extend(scope))
      const accepted = yield* listener.accept
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.flip(accepted.read.pipe(Effect.timeout("2 seconds")))).toMatchObject({ _tag: "TransportError", reason: "Eof" })
    })
  )

  it.scopedLive("an accept waiting when the listener closes, and one after, fail saying the listener is closed; none waits for good", () =>
    Effect.gen(function* () {
      yield* acceptsFailOnceClosed(yield* (yield* MemoryTransport.make).listen(b))
    })
  )

  describe("a connect waiting for room in a full backlog as its listener closes", () => {
    // the close's sweep makes the room: the connection went in after it, where it was left unheard
    const closingOnALateConnect = Effect.gen(function* () {
      const network = yield* MemoryTransport.make
      const listener = yield* network.listen(b)
      yield* Effect.forEach(Array.from({ length: 16 }), () => network.connect(b), { discard: true })
      let connected = false
      const late = yield* Effect.fork(
        Effect.scoped(Effect.flatMap(network.connect(b), (conn) => Effect.zipRight(Effect.sync(() => (connected = true)), conn.read)))
      )
      yield* Effect.sleep("20 millis")
      // 16 is the transport's backlog: were it larger, the connect would not be waiting, and this would test nothing
      expect(connected).toBe(false)
      yield* listener.close
      return { listener, late }
    })
    const turnedAway = (late: Fiber.RuntimeFiber<Uint8Array, ConnectError | TransportError>) =>
      Effect.flip(late.await.pipe(Effect.flatten, Effect.timeout("2 seconds"))).pipe(
        Effect.map((e) => (e._tag === "ConnectError" ? e.reason : e._tag === "TransportError" ? e.reason : e._tag))
      )

    it.scopedLive("is refused, or reads the end: it is not left waiting for a first word; accepts after still fail", () =>
      Effect.gen(function* () {
        const { listener, late } = yield* closingOnALateConnect
        expect(["Refused", "Eof"]).toContain(yield* turnedAway(late))
        for (let i = 0; i < 2; i++)
          expect(yield* Effect.flip(Effect.scoped(listener.accept).pipe(Effect.timeout("2 seconds")))).toMatchObject(listenerClosedError)
      })
    )

    it.scopedLive("is not handed out by an accept after the close", () =>
      Effect.gen(function* () {
        const { listener, late } = yield* closingOnALateConnect
        const accepted = yield* Effect.flip(Effect.scoped(listener.accept).pipe(Effect.timeout("2 seconds")))
        expect(accepted).toMatchObject(listenerClosedError)
        expect(["Refused", "Eof"]).toContain(yield* turnedAway(late))
      })
    )
  })
})
