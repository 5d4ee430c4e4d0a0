import { Effect, Layer, Queue, Ref } from "effect"
import * as crypto from "node:crypto"
import { type Endpoint, formatEndpoint } from "../domain/address.js"
import { ConnectError, ListenError, listenerClosed, TransportError } from "../domain/errors.js"
import { type Conn, type Listener, Transport } from "../services/Transport.js"

type Item = Uint8Array | "eof"

/** Bytes in flight per direction before a writer waits: the in-memory stand-in for socket buffers. */
const CAPACITY_BYTES = 256 * 1024

interface Direction {
  readonly queue: Queue.Queue<Item>
  /** One permit per byte in flight (a chunk larger than the capacity takes all of it). */
  readonly room: Effect.Semaphore
}

const direction = Effect.zipWith(Queue.unbounded<Item>(), Effect.makeSemaphore(CAPACITY_BYTES), (queue, room) => ({ queue, room }))
const weight = (chunk: Uint8Array) => Math.min(Math.max(chunk.length, 1), CAPACITY_BYTES)

const makeEnd = (local: Endpoint, remote: Endpoint, inbound: Direction, outbound: Direction, channelSecret: Uint8Array): Conn => {
  const pushedBack: Array<Uint8Array> = []
  let ended = false
  let closed = false
  const read: Effect.Effect<Uint8Array, TransportError> = Effect.suspend(() => {
    const back = pushedBack.shift()
    if (back) return Effect.succeed(back)
    if (ended) return Effect.fail(new TransportError({ reason: "Eof", detail: "end of stream" }))
    return Effect.flatMap(Queue.take(inbound.queue), (item) => {
      if (item === "eof") {
        ended = true
        return Effect.fail(new TransportError({ reason: "Eof", detail: "end of stream" }))
      }
      return Effect.as(inbound.room.release(weight(item)), item)
    })
  })
  return {
    local,
    remote,
    read,
    unread: (chunk) => {
      pushedBack.unshift(chunk)
    },
    write: (data) =>
      closed
        ? Effect.fail(new TransportError({ reason: "Write", detail: "the connection is closed" }))
        : Effect.zipRight(outbound.room.take(weight(data)), Queue.offer(outbound.queue, data.slice()), { concurrent: false }).pipe(
            Effect.asVoid
          ),
    close: Effect.suspend(() => {
      if (closed) return Effect.void
      closed = true
      return Effect.asVoid(Queue.offer(outbound.queue, "eof"))
    }),
    exportKeyingMaterial: (length, label) =>
      new Uint8Array(crypto.hkdfSync("sha256", channelSecret, new Uint8Array(0), label, length))
  }
}

/** A connected pair of in-memory streams, both ends sharing one channel secret (like one TLS session). */
export const makePair = (
  a: Endpoint,
  b: Endpoint,
  /** Share a secret between pairs to model one TLS session carried through a TCP-level relay. */
  secret: Uint8Array = crypto.randomBytes(32)
): Effect.Effect<readonly [Conn, Conn]> =>
  Effect.gen(function* () {
    const ab = yield* direction
    const ba = yield* direction
    return [makeEnd(a, b, ba, ab, secret), makeEnd(b, a, ab, ba, secret)] as const
  })

let nextEphemeralPort = 40000

/** Put in a listener's queue when it closes: the accept that takes it fails, and puts it back for the next. */
const LISTENER_CLOSED = "listener closed"

interface Registered {
  readonly queue: Queue.Queue<Conn | typeof LISTENER_CLOSED>
  closed: boolean
}

/** Closes the connections waiting in a closed listener's queue, keeping its closing mark; returns them. */
const sweep = (entry: Registered) =>
  Effect.flatMap(Queue.takeAll(entry.queue), (taken) => {
    const conns = Array.from(taken).filter((c): c is Conn => c !== LISTENER_CLOSED)
    return Effect.as(
      Effect.zipRight(
        Effect.forEach(conns, (c) => c.close, { discard: true }),
        conns.length < taken.length ? Queue.offer(entry.queue, LISTENER_CLOSED) : Effect.void
      ),
      conns
    )
  })

/**
 * An in-process network: listeners are registered by address, connects find them there. One instance shared
 * by both peers of a test; nothing touches the operating system.
 */
export const make = Effect.gen(function* () {
  const listeners = yield* Ref.make(new Map<string, Registered>())
  const key = (e: Endpoint) => formatEndpoint(e)
  return Transport.of({
    connect: (to) =>
      Effect.gen(function* () {
        const entry = (yield* Ref.get(listeners)).get(key(to))
        if (!entry) return yield* new ConnectError({ ...to, reason: "Refused", detail: "no listener" })
        const local = { host: "memory", port: nextEphemeralPort++ }
        const [client, server] = yield* makePair(local, to)
        yield* Queue.offer(entry.queue, server)
        // the listener closed while we waited for room: what we put in came after its closing sweep, where no
        // accept will take it and its peer would wait for a first word until its deadline
        if (entry.closed && (yield* sweep(entry)).includes(server))
          return yield* new ConnectError({ ...to, reason: "Refused", detail: "listener closed" })
        yield* Effect.addFinalizer(() => client.close)
        return client
      }),
    listen: (on) =>
      Effect.gen(function* () {
        const address = on.port === 0 ? { ...on, port: nextEphemeralPort++ } : on
        const queue = yield* Queue.bounded<Conn | typeof LISTENER_CLOSED>(16)
        const entry: Registered = { queue, closed: false }
        const registered = yield* Ref.modify(listeners, (m) => {
          if (m.has(key(address))) return [false, m] as const
          const next = new Map(m)
          next.set(key(address), entry)
          return [true, next] as const
        })
        if (!registered)
          return yield* new ListenError({ ...address, reason: "AddressInUse", detail: "already listening" })
        const close = Effect.suspend(() => {
          entry.closed = true
          return Ref.update(listeners, (m) => {
            const next = new Map(m)
            if (next.get(key(address)) === entry) next.delete(key(address))
            return next
          }).pipe(Effect.zipRight(sweep(entry)), Effect.zipRight(Queue.offer(queue, LISTENER_CLOSED)))
        })
        yield* Effect.addFinalizer(() => close)
        const listener: Listener = {
          address,
          accept: Effect.acquireRelease(
            Effect.flatMap(Effect.interruptible(Queue.take(queue)), (c) =>
              c === LISTENER_CLOSED ? Effect.zipRight(Queue.offer(queue, c), Effect.fail(listenerClosed())) : Effect.succeed(c)
            ),
            (c) => c.close
          ),
          close
        }
        return listener
      })
  })
})

export const layer: Layer.Layer<Transport> = Layer.effect(Transport, make)
