import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Layer, Option, Scope, Stream } from "effect"
import { describeError, SessionError, TransportError } from "../src/domain/errors.js"
import type { ChatEvent } from "../src/domain/events.js"
import type { Session, SessionEvent } from "../src/domain/session.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import { open } from "../src/Peer.js"
import { MAX_BATCH, type Payload } from "../src/domain/payload.js"
import * as LengthPrefixFraming from "../src/layers/LengthPrefixFraming.js"
import { startChat } from "../src/layers/ChatDriver.js"
import { frame } from "../src/layers/LengthPrefixFraming.js"
import * as SeedProtocol from "../src/layers/SeedProtocol.js"
import * as V2Protocol from "../src/layers/V2Protocol.js"
import type { ChatHandle } from "../src/services/Chat.js"
import type { FramedConn } from "../src/services/Framing.js"
import { type Conn, Transport } from "../src/services/Transport.js"
import { wallClockSetBack } from "./support/clock.js"
import * as L from "./support/layers.js"
import { until, untilStill } from "./support/progress.js"
import { node } from "./support/sessions.js"

const endpointB = { host: "10.0.0.2", port: 7002 }

const pair = Effect.gen(function* () {
  const server = yield* Effect.fork(open({ mode: "server", listen: endpointB }))
  yield* Effect.sleep(10)
  const client = yield* open({ mode: "client", target: endpointB, connectFor: "1 second" })
  const srv = yield* server.await.pipe(Effect.flatten)
  return { client, srv }
})

/** Two framed in-memory connections with a finished handshake (v2 unless told): the connector's (c) and the listener's (l). */
const handshakenWith = <S, E>(handshake: (p: typeof node, conn: FramedConn, role: "connector" | "listener") => Effect.Effect<S, E>) =>
  Effect.gen(function* () {
    const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
    const fc = frame(c)
    const fl = frame(l)
    const [sc, sl] = yield* Effect.all([handshake(node, fc, "connector"), handshake(node, fl, "listener")], { concurrency: 2 })
    return { c, fc, fl, sc, sl }
  })
const handshaken = handshakenWith(V2Protocol.handshake)

/**
 * `handshaken`, except that once `slowWrites(ms)` is called each write of the listener's (fl) takes that long to
 * complete, as on a slow link.
 */
const handshakenSlowListener = Effect.gen(function* () {
  const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
  let writeMs = 0
  const slowly = <E>(written: Effect.Effect<void, E>) => Effect.zipLeft(written, Effect.suspend(() => Effect.sleep(writeMs)))
  const slow: Conn = { ...l, write: (data) => slowly(l.write(data)), writev: l.writev && ((chunks) => slowly(l.writev!(chunks))) }
  const fc = frame(c)
  const fl = frame(slow)
  const [sc, sl] = yield* Effect.all([V2Protocol.handshake(node, fc, "connector"), V2Protocol.handshake(node, fl, "listener")], { concurrency: 2 })
  return { fc, fl, sc, sl, slowWrites: (ms: number) => void (writeMs = ms) }
})

/**
 * A running chat on the listener's side whose peer is driven by hand: `sc` is the peer's session, `fc` its
 * framed connection, `c` its raw connection.
 */
const chatWithRawPeerShowing = (show?: (events: ReadonlyArray<ChatEvent>) => Effect.Effect<void>, heartbeatMs = 0) => Effect.gen(function* () {
  const { c, fc, fl, sc, sl } = yield* handshaken
  const events: Array<ChatEvent> = []
  const emit = (es: ReadonlyArray<ChatEvent>) => Effect.zipRight(Effect.sync(() => void events.push(...es)), show ? show(es) : Effect.void)
  const chat = yield* startChat(fl, sl, { emit, heartbeatMs })
  return { c, fc, sc, chat, events }
})
const chatWithRawPeer = chatWithRawPeerShowing()

/**
 * `body` with a gate for a view to wait on, opened at the latest when the body ends: a failing test then ends at
 * once (closing the scope of a chat whose view is held hung until the test timed out).
 */
const withGate = <A, E, R>(body: (gate: Deferred.Deferred<void>) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Deferred.make<void>(), (gate) => Effect.ensuring(body(gate), Deferred.succeed(gate, undefined)))

/** What the peer's session makes of our frames, in order; a frame it refuses fails the test. */
const openedBy = (sc: Session, frames: ReadonlyArray<Uint8Array>): Array<SessionEvent> =>
  frames.flatMap((f) => {
    const step = sc.receive(f)
    if (step instanceof SessionError) throw step
    return [...step.events]
  })

const ofTag = <T extends ChatEvent["_tag"]>(events: Chunk.Chunk<ChatEvent>, tag: T) =>
  Chunk.toArray(events).filter((e): e is Extract<ChatEvent, { _tag: T }> => e._tag === tag)

/** `session`, working, except that receiving throws (a bug). */
const throwingOnReceive = (session: Session): Session =>
  new Proxy(session, {
    get: (target, key) =>
      key === "receive"
        ? () => {
            throw new RangeError("a bug")
          }
        : Reflect.get(target, key, target)
  })

/**
 * The peer sends texts with the longest ids a peer may give (each receipt of ours is about as long as the text it
 * acknowledges), never reading, until 20 MiB are out or its writes stop: how many bytes it wrote by then.
 */
const floodUntilStill = (fc: FramedConn, sc: Session) =>
  Effect.gen(function* () {
    const id = (n: number) => `${n}`.padStart(64, "0")
    const flood = 20 * 1024 * 1024
    let written = 0
    yield* Effect.forkScoped(
      Effect.gen(function* () {
        for (let n = 0; written < flood; n++) {
          const frames = sc.sendMany!(Array.from({ length: MAX_BATCH }, (_, i) => ({ id: id(n * MAX_BATCH + i), text: "x" }))).frames
          yield* fc.writeFrames(frames)
          for (const f of frames) written += f.length
        }
      })
    )
    yield* untilStill(() => written, flood)
    return written
  })

describe("a whole chat over the in-memory transport", () => {
  it.scopedLive("seed: messages both ways arrive in order and are acknowledged; /quit ends both sides cleanly", () =>
    Effect.gen(function* () {
      const { client, srv } = yield* pair
      expect(client.info.peerFingerprint).toBe(srv.info.localFingerprint)
      expect(srv.info.peerFingerprint).toBe(client.info.localFingerprint)
      const texts = ["hello", "héllo 👋", "third"]
      for (const t of texts) yield* client.send(t)
      const got = yield* Stream.runCollect(Stream.take(srv.messages, 3))
      expect(Chunk.toArray(got).map((m) => m.text)).toEqual(texts)
      yield* srv.send("back")
      const back = yield* Stream.runHead(client.messages)
      expect(back._tag === "Some" && back.value.text).toBe("back")
      yield* client.leave({ drainMs: 1000 })
      const [co, so] = yield* Effect.all([client.outcome, srv.outcome])
      expect(co).toEqual({ _tag: "Left", undelivered: [] })
      expect(so._tag).toBe("PeerLeft")
      expect(ofTag(yield* Stream.runCollect(client.events), "delivered").map((d) => d.id)).toEqual(["1", "2", "3"])
    }).pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, LengthPrefixFraming.layer(), L.seed)))
  )

  it.scopedLive("v2: both sides send bursts at the same moment; every message arrives once, in order, with receipts", () =>
    Effect.gen(function* () {
      const { client, srv } = yield* pair
      expect(client.info.sas).toBeDefined()
      expect(client.info.sas).toBe(srv.info.sas)
      const n = 200
      const texts = (who: string) => Array.from({ length: n }, (_, i) => `${who} ${i}`)
      yield* Effect.all(
        [
          Effect.forEach(texts("c"), (t) => client.send(t)),
          Effect.forEach(texts("s"), (t) => srv.send(t))
        ],
        { concurrency: 2 }
      )
      const [atSrv, atClient] = yield* Effect.all(
        [Stream.runCollect(Stream.take(srv.messages, n)), Stream.runCollect(Stream.take(client.messages, n))],
        { concurrency: 2 }
      )
      expect(Chunk.toArray(atSrv).map((m) => m.text)).toEqual(texts("c"))
      expect(Chunk.toArray(atClient).map((m) => m.text)).toEqual(texts("s"))
      yield* client.leave({ drainMs: 2000 })
      const [co, so] = yield* Effect.all([client.outcome, srv.outcome])
      expect(co).toEqual({ _tag: "Left", undelivered: [] })
      expect(so).toEqual({ _tag: "PeerLeft", reason: "bye", undelivered: [] })
      const delivered = ofTag(yield* Stream.runCollect(client.events), "delivered").map((d) => d.id)
      expect(new Set(delivered).size).toBe(n)
    }).pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, LengthPrefixFraming.layer(), L.v2)))
  )

  it.scopedLive("a leave without waiting cuts short the wait for receipts of one before it (a terminal that went away)", () =>
    Effect.gen(function* () {
      // the raw peer never acknowledges: the first leave would wait its whole minute
      const { chat } = yield* chatWithRawPeer
      yield* chat.send("never acknowledged")
      yield* chat.leave({ drainMs: 60_000 })
      yield* Effect.sleep(50)
      yield* chat.leave({ drainMs: 0 })
      const outcome = yield* chat.outcome.pipe(Effect.timeout("3 seconds"))
      expect(outcome).toEqual({ _tag: "Left", undelivered: ["1"] })
    })
  )

  it.scopedLive.each([true, false])("a leave that extends on receipts waits while they keep coming, slower than its drain (%s)", (extendOnReceipt) =>
    Effect.gen(function* () {
      // a file piped over a slow link: the fixed 10 s wait left 40 % of its lines undelivered at 1 Mbit/s
      const { c, fc, sc, chat } = yield* chatWithRawPeer
      const count = 5
      for (let i = 0; i < count; i++) yield* chat.send(`m${i}`).pipe(Effect.zipLeft(Effect.sleep(5)))
      // the peer holds them all, acknowledging none yet
      const held: Array<Uint8Array> = []
      for (let i = 0; i < 100 && held.length < count; i++) held.push(...(yield* fc.readFrames))
      expect(held.length).toBe(count)
      yield* chat.leave({ drainMs: 200, extendOnReceipt })
      // one receipt every 120 ms, 600 ms in all; our goodbye, when it comes, ends the peer's part
      let goodbyeBefore: number | undefined
      for (let i = 0; i < count && goodbyeBefore === undefined; i++) {
        const step = sc.receive(held[i]!)
        if (step instanceof SessionError) return yield* Effect.die(step)
        yield* fc.writeFrames(sc.flush!().frames)
        const heard = yield* fc.readFrames.pipe(Effect.timeout(120), Effect.option)
        for (const f of heard._tag === "Some" ? heard.value : []) {
          const ours = sc.receive(f)
          if (!(ours instanceof SessionError) && ours.events.some((e) => e._tag === "PeerLeft")) goodbyeBefore = i + 1
        }
      }
      yield* c.close
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      if (extendOnReceipt) expect(outcome).toEqual({ _tag: "Left", undelivered: [] })
      else {
        // the fixed wait: goodbye after 200 ms, with receipts still to come
        expect(goodbyeBefore).toBeLessThan(count)
        expect(outcome._tag === "Left" && outcome.undelivered.length).toBeGreaterThan(0)
      }
    })
  )

  it.scopedLive("texts sent faster than they can be encrypted share frames; the peer gets every one, in order", () =>
    Effect.gen(function* () {
      const { fc, sc, chat } = yield* chatWithRawPeer
      const n = 600
      yield* Effect.forEach(Array.from({ length: n }, (_, i) => `burst ${i}`), (t) => chat.send(t))
      const got: Array<string> = []
      let frames = 0
      while (got.length < n) {
        const step = sc.receive(yield* fc.readFrame)
        if (step instanceof Error) throw step
        frames++
        for (const e of step.events) if (e._tag === "Message") got.push(e.text)
      }
      expect(got).toEqual(Array.from({ length: n }, (_, i) => `burst ${i}`))
      // one frame per text would be 600; the loop seals what queued up in a round together
      expect(frames).toBeLessThan(n / 4)
    })
  )

  // with heartbeats the loop waits for the view in another way (a ticker acts while it is held): both ways
  it.scopedLive.each([0, 100])("a receipt leaves only once its message has been shown: a view that blocks holds receipts back (heartbeat %i ms)", (heartbeatMs) =>
    Effect.gen(function* () {
      // the view blocks on messages until the gate opens, as the CLI's does when nobody reads its output
      const gate = yield* Deferred.make<void>()
      let shown = 0
      const { fc, sc } = yield* chatWithRawPeerShowing((es) => {
        const messages = es.filter((e) => e._tag === "message").length
        return messages === 0 ? Effect.void : Effect.zipRight(Deferred.await(gate), Effect.sync(() => void (shown += messages)))
      }, heartbeatMs)
      // enough texts that the chat acknowledges them at once rather than after its short receipt delay
      const n = 1200
      const sent = sc.sendMany(Array.from({ length: n }, (_, i) => ({ id: String(i + 1), text: `line ${i}` })))
      yield* fc.writeFrames(sent.frames)
      const acknowledged = (frames: ReadonlyArray<Uint8Array>) => openedBy(sc, frames).flatMap((e) => (e._tag === "Delivered" ? e.ids : []))
      // while the view is blocked (for several heartbeats), nothing it has not shown may be acknowledged
      const early = yield* Effect.timeout(fc.readFrames, "450 millis").pipe(Effect.option)
      expect(shown).toBe(0)
      expect(early._tag === "Some" ? acknowledged(early.value) : []).toEqual([])
      // with heartbeats the peer hears from us meanwhile (heartbeats), without a receipt among them
      expect(early._tag).toBe(heartbeatMs > 0 ? "Some" : "None")
      yield* Deferred.succeed(gate, undefined)
      const ids = new Set<string>()
      while (ids.size < n) for (const id of acknowledged(yield* fc.readFrames)) ids.add(id)
      expect(shown).toBe(n)
    })
  )

  it.scopedLive("texts and receipts sealed in the same rounds each reach the peer once, in order", () =>
    Effect.gen(function* () {
      const { fc, sc, chat } = yield* chatWithRawPeer
      // both directions at once, so rounds seal texts of ours and receipts for the peer's together
      const n = 3000
      const theirs = Array.from({ length: n }, (_, i) => ({ id: String(i + 1), text: `theirs ${i}` }))
      yield* Effect.fork(Effect.forEach(Array.from({ length: n }, (_, i) => `ours ${i}`), (t) => chat.send(t)))
      yield* Effect.fork(Effect.forEach(Array.from({ length: n / 100 }, (_, k) => theirs.slice(k * 100, k * 100 + 100)), (batch) => fc.writeFrames(sc.sendMany(batch).frames)))
      const receipted: Array<string> = []
      const got: Array<string> = []
      while (receipted.length < n || got.length < n) {
        const frame = yield* Effect.timeoutFail(fc.readFrame, {
          duration: "5 seconds",
          onTimeout: () => new Error(`stuck at ${receipted.length} receipts, ${got.length} texts`)
        })
        const step = sc.receive(frame)
        if (step instanceof SessionError) expect.fail(`the peer refused a frame: ${describeError(step)}`)
        for (const e of step.events) {
          if (e._tag === "Delivered") receipted.push(...e.ids)
          if (e._tag === "Message") got.push(e.text)
        }
      }
      expect(got).toEqual(Array.from({ length: n }, (_, i) => `ours ${i}`))
      expect(receipted).toEqual(theirs.map((t) => t.id))
    })
  )

  it.scopedLive("a view that cannot write for several heartbeats does not end the chat: heartbeats go on meanwhile", () =>
    Effect.gen(function* () {
      const { fc, sc, fl, sl } = yield* handshaken
      const heartbeatMs = 200
      // the listener's view blocks on the first message for eight heartbeats, as when nobody reads its output
      const gate = yield* Deferred.make<void>()
      const listenerSaw: Array<ChatEvent> = []
      const listener = yield* startChat(fl, sl, {
        emit: (es) =>
          Effect.zipRight(
            es.some((e) => e._tag === "message") ? Deferred.await(gate) : Effect.void,
            Effect.sync(() => void listenerSaw.push(...es))
          ),
        heartbeatMs
      })
      const connectorSaw: Array<ChatEvent> = []
      const connector = yield* startChat(fc, sc, { emit: (es) => Effect.sync(() => void connectorSaw.push(...es)), heartbeatMs })
      yield* connector.send("are you there?")
      yield* Effect.sleep(8 * heartbeatMs)
      expect(connectorSaw.map((e) => e._tag)).toEqual(["sent"])
      yield* Deferred.succeed(gate, undefined)
      yield* until(() => connectorSaw.some((e) => e._tag === "delivered"), 1_000)
      expect(connectorSaw.map((e) => e._tag)).toEqual(["sent", "delivered"])
      // and neither side took the long wait for a dead peer
      yield* Effect.sleep(4 * heartbeatMs)
      expect([...listenerSaw, ...connectorSaw].some((e) => e._tag === "error" || e._tag === "disconnected")).toBe(false)
      yield* listener.leave()
      expect((yield* connector.outcome)._tag).toBe("PeerLeft")
    })
  )

  it.scopedLive("a view that cannot write the round of our own text still lets the text go at a heartbeat's beat, and the chat lives on", () =>
    withGate((gate) =>
      Effect.gen(function* () {
        const { fc, sc, fl, sl } = yield* handshaken
        const heartbeatMs = 200
        // the listener's view blocks on its own `sent` line, as when nobody reads its output: the text was sealed in
        // that round, and acknowledges nothing, so nothing it could vouch for is sent early
        const listenerSaw: Array<ChatEvent> = []
        const listener = yield* startChat(fl, sl, {
          emit: (es) =>
            Effect.zipRight(es.some((e) => e._tag === "sent") ? Deferred.await(gate) : Effect.void, Effect.sync(() => void listenerSaw.push(...es))),
          heartbeatMs
        })
        const connectorSaw: Array<ChatEvent> = []
        const connector = yield* startChat(fc, sc, { emit: (es) => Effect.sync(() => void connectorSaw.push(...es)), heartbeatMs })
        yield* listener.send("while my screen is stuck")
        yield* until(() => connectorSaw.some((e) => e._tag === "message"), 5 * heartbeatMs)
        expect(connectorSaw.flatMap((e) => (e._tag === "message" ? [e.text] : []))).toEqual(["while my screen is stuck"])
        // heartbeats go on after it while the view still waits: nobody took the long wait for a dead peer
        yield* Effect.sleep(5 * heartbeatMs)
        expect(listenerSaw).toEqual([])
        expect(connectorSaw.some((e) => e._tag === "error" || e._tag === "disconnected")).toBe(false)
        yield* Deferred.succeed(gate, undefined)
        yield* until(() => listenerSaw.some((e) => e._tag === "delivered"), 1_000)
        yield* listener.leave()
        expect((yield* connector.outcome)._tag).toBe("PeerLeft")
      })
    )
  )

  // a disowned CLI writing to a terminal that hung up: its view's write never completes, and no SIGHUP came
  it.scopedLive.each([0, 100])("a leave because the view is gone says goodbye while the view holds a round it never shows; that round stays unacknowledged (heartbeat %i ms)", (heartbeatMs) =>
    withGate((gate) => Effect.gen(function* () {
      let peer: { fc: FramedConn; sc: Session; chat: ChatHandle } | undefined
      // While "shown" is shown, the peer sends "held", then we send "mine": so the round that holds "held" seals
      // a text of ours too (frames that acknowledge nothing: they go before the goodbye), and the receipt for
      // "shown" is likely still owed (its 2 ms wait) when that round begins, and must then go with the goodbye.
      const { fc, sc, chat, events } = yield* chatWithRawPeerShowing((es) => {
        const texts = es.flatMap((e) => (e._tag === "message" ? [e.text] : []))
        if (texts.includes("held")) return Deferred.await(gate)
        if (texts.includes("shown"))
          return Effect.orDie(peer!.fc.writeFrames(peer!.sc.send("2", "held").frames)).pipe(
            // the chat reads "held" meanwhile
            Effect.zipRight(Effect.sleep(50)),
            Effect.zipRight(Effect.ignore(peer!.chat.send("mine")))
          )
        return Effect.void
      }, heartbeatMs)
      peer = { fc, sc, chat }
      yield* fc.writeFrames(sc.send("1", "shown").frames)
      yield* until(() => events.some((e) => e._tag === "message" && e.text === "held"))
      expect(events.filter((e) => e._tag === "message").map((e) => (e as { text: string }).text)).toEqual(["shown", "held"])
      const delivered: Array<string> = []
      const got: Array<string> = []
      let left = false
      const readPeer = (ms: number) =>
        Effect.gen(function* () {
          while (!left) {
            const frames = yield* Effect.timeout(fc.readFrames, ms).pipe(Effect.option)
            if (frames._tag === "None") return
            for (const e of openedBy(sc, frames.value)) {
              if (e._tag === "Delivered") delivered.push(...e.ids)
              if (e._tag === "Message") got.push(e.text)
              if (e._tag === "PeerLeft") left = true
            }
          }
        })
      yield* chat.leave({ drainMs: 0, viewGone: true })
      yield* readPeer(2_000)
      // the goodbye came while the view still held "held" (before, nothing came until the view let go), after
      // our text of that round
      expect(left).toBe(true)
      expect(got).toEqual(["mine"])
      expect(delivered).toEqual(["1"])
      // the view lets go after all: what it held stays unacknowledged, and the chat ends as our leave, whether
      // the peer closes or not
      yield* Deferred.succeed(gate, undefined)
      left = false
      yield* readPeer(200)
      expect(delivered).toEqual(["1"])
      if (heartbeatMs > 0) yield* fc.conn.close
      // the peer never acknowledged "mine"
      expect(yield* chat.outcome.pipe(Effect.timeout("5 seconds"))).toEqual({ _tag: "Left", undelivered: ["1"] })
    }))
  )

  it.scopedLive("a leave because the view is gone, asked while a round is being handled, says goodbye once that round holds the view", () =>
    withGate((gate) => Effect.gen(function* () {
      const { fc, fl, sc, sl } = yield* handshaken
      let chat: ChatHandle | undefined
      // the leave is asked from inside the round: after it took its frames, before its view holds it
      const leavingOnReceive = new Proxy(sl, {
        get: (target, key) =>
          key === "receive"
            ? (frame: Uint8Array) => {
                const step = target.receive(frame)
                Effect.runSync(chat!.leave({ drainMs: 0, viewGone: true }))
                return step
              }
            : Reflect.get(target, key, target)
      })
      chat = yield* startChat(fl, leavingOnReceive, { emit: (es) => (es.some((e) => e._tag === "message") ? Deferred.await(gate) : Effect.void), heartbeatMs: 0 })
      yield* fc.writeFrames(sc.send("1", "held").frames)
      const seen: Array<SessionEvent> = []
      while (!seen.some((e) => e._tag === "PeerLeft")) {
        const frames = yield* Effect.timeoutFail(fc.readFrames, { duration: "2 seconds", onTimeout: () => new Error("no goodbye") })
        seen.push(...openedBy(sc, frames))
      }
      expect(seen.filter((e) => e._tag === "Delivered")).toEqual([])
    }))
  )

  it.scopedLive("a leave at once while the view shows a round waits for it (a bot leaving on a message it read): the goodbye acknowledges that round", () =>
    withGate((gate) => Effect.gen(function* () {
      const { fc, sc, chat, events } = yield* chatWithRawPeerShowing((es) => (es.some((e) => e._tag === "message") ? Deferred.await(gate) : Effect.void), 100)
      yield* fc.writeFrames(sc.send("1", "please leave").frames)
      yield* until(() => events.some((e) => e._tag === "message"))
      yield* chat.leave({ drainMs: 0 })
      // nothing but heartbeats (the peer's session reads them as asking for a sign of life) while the view holds the round
      const early = yield* Effect.timeout(fc.readFrames, 300).pipe(Effect.option)
      expect((early._tag === "Some" ? openedBy(sc, early.value) : []).filter((e) => e._tag !== "Asked")).toEqual([])
      yield* Deferred.succeed(gate, undefined)
      const after: Array<SessionEvent> = []
      while (!after.some((e) => e._tag === "PeerLeft")) after.push(...openedBy(sc, yield* fc.readFrames))
      expect(after.flatMap((e) => (e._tag === "Delivered" ? e.ids : []))).toEqual(["1"])
      yield* fc.conn.close
      expect((yield* chat.outcome)._tag).toBe("Left")
    }))
  )

  it.scopedLive("a leave handled in the same round as a message waits for the view of that round: its goodbye acknowledges the message", () =>
    withGate((shownFirst) => withGate((shownSecond) => Effect.gen(function* () {
      const { fc, sc, chat, events } = yield* chatWithRawPeerShowing((es) => {
        const texts = es.flatMap((e) => (e._tag === "message" ? [e.text] : []))
        return texts.includes("first") ? Deferred.await(shownFirst) : texts.includes("second") ? Deferred.await(shownSecond) : Effect.void
      }, 100)
      yield* fc.writeFrames(sc.send("1", "first").frames)
      yield* until(() => events.some((e) => e._tag === "message"))
      // while "first" holds the view, "second" is read and a leave asked: the next round handles both
      yield* fc.writeFrames(sc.send("2", "second").frames)
      yield* Effect.sleep(100)
      yield* chat.leave({ drainMs: 0 })
      yield* Deferred.succeed(shownFirst, undefined)
      yield* until(() => events.some((e) => e._tag === "message" && e.text === "second"))
      // "second" holds the view for several heartbeats: what goes meanwhile acknowledges at most "first"
      const seen: Array<SessionEvent> = []
      for (let i = 0; i < 4; i++) {
        const frames = yield* Effect.timeout(fc.readFrames, 150).pipe(Effect.option)
        if (frames._tag === "Some") seen.push(...openedBy(sc, frames.value))
      }
      expect(seen.filter((e) => e._tag === "PeerLeft")).toEqual([])
      expect(seen.flatMap((e) => (e._tag === "Delivered" ? e.ids : []))).not.toContain("2")
      yield* Deferred.succeed(shownSecond, undefined)
      while (!seen.some((e) => e._tag === "PeerLeft")) seen.push(...openedBy(sc, yield* fc.readFrames.pipe(Effect.timeout("2 seconds"))))
      expect(seen.flatMap((e) => (e._tag === "Delivered" ? e.ids : []))).toEqual(["1", "2"])
      yield* fc.conn.close
      expect((yield* chat.outcome.pipe(Effect.timeout("5 seconds")))._tag).toBe("Left")
    })))
  )

  it.scopedLive("seed: a message crossing our goodbye is shown, and the chat ends as our leave, not the peer's", () =>
    Effect.gen(function* () {
      const { c, fc, fl, sc, sl } = yield* handshakenWith(SeedProtocol.handshake)
      const events: Array<ChatEvent> = []
      const chat = yield* startChat(fl, sl, { emit: (es) => Effect.sync(() => void events.push(...es)) })
      yield* chat.leave({ drainMs: 0 })
      // the peer, driven by hand, sends before it has read our goodbye, reads it (its end), and closes
      yield* fc.writeFrames(sc.send("1", "sent as you leave").frames)
      const goodbye = sc.receive(yield* fc.readFrame)
      expect(goodbye instanceof SessionError ? goodbye : goodbye.events).toEqual([{ _tag: "PeerLeft", reason: "quit" }])
      yield* c.close
      expect(yield* chat.outcome.pipe(Effect.timeout("5 seconds"))).toEqual({ _tag: "Left", undelivered: [] })
      expect(events.filter((e) => e._tag === "message").map((e) => e._tag === "message" && e.text)).toEqual(["sent as you leave"])
    })
  )

  it.scopedLive("a leave that extends on receipts, when none come, says goodbye after one drain (it does not wait on for ever)", () =>
    Effect.gen(function* () {
      const { chat } = yield* chatWithRawPeer
      yield* chat.send("never acknowledged")
      yield* chat.leave({ drainMs: 200, extendOnReceipt: true })
      expect(yield* chat.outcome.pipe(Effect.timeout("2 seconds"))).toEqual({ _tag: "Left", undelivered: ["1"] })
    })
  )

  /** A seed chat on the listener's side whose peer (`sc` over `fc`) is driven by hand. */
  const seedChatWithRawPeer = Effect.gen(function* () {
    const { c, fc, fl, sc, sl } = yield* handshakenWith(SeedProtocol.handshake)
    const chat = yield* startChat(fl, sl, { emit: () => Effect.void })
    return { c, fc, sc, chat }
  })

  it.scopedLive("seed: a goodbye held behind a message whose key reply never comes ends the chat after the settling wait (3 s)", () =>
    Effect.gen(function* () {
      const { chat } = yield* seedChatWithRawPeer
      yield* chat.send("its key reply never comes")
      yield* chat.leave({ drainMs: 0 })
      expect(yield* chat.outcome.pipe(Effect.timeout("5 seconds"))).toEqual({ _tag: "Left", undelivered: ["1"] })
    })
  )

  it.scopedLive("seed: a goodbye held behind a message goes out once its key reply comes; the chat does not end before", () =>
    Effect.gen(function* () {
      const { fc, sc, chat } = yield* seedChatWithRawPeer
      yield* chat.send("awaiting its key reply")
      const message = sc.receive(yield* fc.readFrame)
      if (message instanceof SessionError) return yield* Effect.die(message)
      yield* chat.leave({ drainMs: 0 })
      yield* Effect.sleep(300)
      // lock-step: our goodbye may go only after this reply; an end before it left the peer with a lost connection
      yield* fc.writeFrames(message.frames)
      const goodbye = sc.receive(yield* fc.readFrame.pipe(Effect.timeout("2 seconds")))
      expect(goodbye instanceof SessionError ? goodbye : goodbye.events).toEqual([{ _tag: "PeerLeft", reason: "quit" }])
      expect(yield* chat.outcome.pipe(Effect.timeout("5 seconds"))).toEqual({ _tag: "Left", undelivered: [] })
    })
  )

  it.scopedLive("seed: both sides sending at the same moment ends the chat with the sentence saying so, after the peer's message is shown", () =>
    Effect.gen(function* () {
      const { fc, fl, sc, sl } = yield* handshakenWith(SeedProtocol.handshake)
      const events: Array<ChatEvent> = []
      const chat = yield* startChat(fl, sl, { emit: (es) => Effect.sync(() => void events.push(...es)) })
      yield* chat.send("ours")
      // the peer has our message in its socket, unread, when it sends its own: the two key chains split
      yield* fc.readFrame
      yield* fc.writeFrames(sc.send("1", "theirs").frames)
      const outcome = yield* chat.outcome.pipe(Effect.timeout("3 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "SessionError", reason: "Crossing" }, undelivered: ["1"] })
      expect(events.filter((e) => e._tag === "message").map((e) => (e as { text: string }).text)).toEqual(["theirs"])
      expect(events.find((e) => e._tag === "error")).toMatchObject({ code: "SessionError.Crossing" })
    })
  )

  it.scopedLive("seed: a frame too large where our goodbye's key reply should come is said as such, not taken for the end we asked", () =>
    Effect.gen(function* () {
      const { c, chat } = yield* seedChatWithRawPeer
      yield* chat.leave({ drainMs: 0 })
      // a length no frame may have, written on the raw connection
      yield* c.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]))
      const outcome = yield* chat.outcome.pipe(Effect.timeout("2 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "FrameError", reason: "TooLarge" } })
    })
  )

  it.scopedLive("a leave while the socket is still busy with an earlier write: the goodbye is written before the connection closes", () =>
    Effect.gen(function* () {
      // the listener's writes take 300 ms to complete (a slow link) once the handshake is done; without the chat's
      // end waiting for the writer's queue, the connection closed with the goodbye still in it, and the peer read
      // a lost connection
      const { fc, fl, sc, sl, slowWrites } = yield* handshakenSlowListener
      // the heartbeat's ticker gives the loop a round after the goodbye's, in which it finds itself done
      const listener = yield* startChat(fl, sl, { emit: () => Effect.void, heartbeatMs: 100 })
      const connector = yield* startChat(fc, sc, { emit: () => Effect.void, heartbeatMs: 0 })
      slowWrites(300)
      yield* listener.send("on its way")
      yield* Effect.sleep(50)
      yield* listener.leave({ drainMs: 0 })
      expect(yield* connector.outcome.pipe(Effect.timeout("3 seconds"))).toMatchObject({ _tag: "PeerLeft" })
      expect(yield* listener.outcome.pipe(Effect.timeout("3 seconds"))).toMatchObject({ _tag: "Left" })
    })
  )

  it.scopedLive("v2: after our goodbye nothing more is sent, not even the answer to a heartbeat that comes while the goodbye is being written", () =>
    Effect.gen(function* () {
      // the listener's writes take 300 ms (a slow link), so the peer's heartbeat comes while the goodbye is in the socket
      const { fc, fl, sc, sl, slowWrites } = yield* handshakenSlowListener
      const chat = yield* startChat(fl, sl, { emit: () => Effect.void, heartbeatMs: 0 })
      slowWrites(300)
      yield* chat.leave({ drainMs: 0 })
      yield* Effect.sleep(50)
      yield* fc.writeFrames(sc.heartbeat!().frames)
      const seen: Array<SessionEvent> = []
      while (!seen.some((e) => e._tag === "PeerLeft")) seen.push(...openedBy(sc, yield* fc.readFrames.pipe(Effect.timeout("2 seconds"))))
      const after = yield* fc.readFrames.pipe(Effect.timeout(700), Effect.either)
      expect(after._tag === "Right" ? after.right.length : 0).toBe(0)
      expect((yield* chat.outcome.pipe(Effect.timeout("3 seconds")))._tag).toBe("Left")
    })
  )

  // the intervals were kept on the wall clock: set back an hour (NTP, by hand, a VM restored), no heartbeat went
  // out for that hour and a peer gone silent was never found gone
  it.scopedLive("a wall clock set back an hour does not keep a silent peer from being found gone: heartbeats keep their own clock", () =>
    Effect.gen(function* () {
      const { chat } = yield* chatWithRawPeerShowing(undefined, 100)
      yield* Effect.sleep(50)
      yield* wallClockSetBack(3_600_000)
      const outcome = yield* chat.outcome.pipe(Effect.timeout("3 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "TransportError", reason: "Timeout" } })
    })
  )

  it.scopedLive.each([
    { peer: "a longer interval", peerMs: 1_000 },
    { peer: "heartbeats off", peerMs: 0 }
  ])("a side with heartbeats hears from a peer with $peer: its heartbeats are answered, the idle chat lives on", ({ peerMs }) =>
    Effect.gen(function* () {
      // the peer's interval is its own (--heartbeat is per side): a side that heard nothing for three of its own
      // intervals took the connection for lost, every few seconds of quiet (measured: 3.0 s at --heartbeat 1
      // against a default peer)
      const { fc, sc, fl, sl } = yield* handshaken
      const heartbeatMs = 100
      const listenerSaw: Array<ChatEvent> = []
      const listener = yield* startChat(fl, sl, { emit: (es) => Effect.sync(() => void listenerSaw.push(...es)), heartbeatMs })
      const connectorSaw: Array<ChatEvent> = []
      const connector = yield* startChat(fc, sc, { emit: (es) => Effect.sync(() => void connectorSaw.push(...es)), heartbeatMs: peerMs })
      yield* Effect.sleep(8 * heartbeatMs)
      expect([...listenerSaw, ...connectorSaw].filter((e) => e._tag === "error" || e._tag === "disconnected")).toEqual([])
      yield* connector.leave()
      expect((yield* listener.outcome)._tag).toBe("PeerLeft")
    })
  )

  it.scopedLive("events reach onEvents with or without a stream running; a stream that starts later gets the replay, then live, once each", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const server = yield* Effect.fork(
        open({
          mode: "server",
          listen: endpointB,
          onEvents: (es) => Effect.sync(() => es.forEach((e) => e._tag === "message" && seen.push(e.text)))
        })
      )
      yield* Effect.sleep(10)
      const client = yield* open({ mode: "client", target: endpointB, connectFor: "1 second" })
      const srv = yield* server.await.pipe(Effect.flatten)
      const texts = (n: number) => Effect.map(Stream.runCollect(Stream.take(srv.messages, n)), (c) => Chunk.toArray(c).map((m) => m.text))
      // one stream while the first three arrive, then none while three more do
      const first = yield* Effect.fork(texts(3))
      for (const t of ["1", "2", "3"]) yield* client.send(t)
      expect(yield* Fiber.join(first).pipe(Effect.timeout("5 seconds"))).toEqual(["1", "2", "3"])
      for (const t of ["4", "5", "6"]) yield* client.send(t)
      yield* until(() => seen.length >= 6, 1_000)
      expect(seen).toEqual(["1", "2", "3", "4", "5", "6"])
      const later = yield* Effect.fork(texts(7))
      yield* Effect.sleep(20)
      yield* client.send("7")
      expect(yield* Fiber.join(later).pipe(Effect.timeout("5 seconds"))).toEqual(["1", "2", "3", "4", "5", "6", "7"])
      expect(seen).toEqual(["1", "2", "3", "4", "5", "6", "7"])
    }).pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, LengthPrefixFraming.layer(), L.v2)))
  )

  it.scopedLive("a late subscriber's replay is bounded by text size too, the peer's texts and ours, and keeps the newest events", () =>
    Effect.gen(function* () {
      const { client, srv } = yield* pair
      const big = (i: number) => `${i}`.padEnd(60_000, "x")
      for (let i = 0; i < 12; i++) yield* client.send(big(i))
      yield* Stream.runDrain(Stream.take(srv.messages, 12))
      yield* client.leave({ drainMs: 1000 })
      yield* srv.outcome
      yield* client.outcome
      // subscribed only now: everything each gets is replay, of the texts received and of those sent
      for (const [session, tag] of [[srv, "message"], [client, "sent"]] as const) {
        const replayed = Chunk.toArray(yield* Stream.runCollect(session.events))
        const texts = replayed.flatMap((e) => (e._tag === tag ? [e.text] : []))
        expect(texts.reduce((n, t) => n + t.length, 0)).toBeLessThanOrEqual(256 * 1024 + 60_000)
        expect(texts.at(-1)).toBe(big(11))
        expect(replayed.at(-1)?._tag).toBe("disconnected")
      }
    }).pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, LengthPrefixFraming.layer(), L.v2)))
  )

  it.scopedLive("a listener says a connection it turned away for what it sent, though its peer gets in at once after", () =>
    Effect.gen(function* () {
      // only a connection closed unheard may be the real peer's spare (auto mode), and wait to be said: one that
      // sent what no handshake begins with is said whatever comes next
      const network = yield* MemoryTransport.make
      const stack = Layer.mergeAll(Layer.succeed(Transport, network), LengthPrefixFraming.layer(), L.v2)
      const events: Array<ChatEvent> = []
      const server = yield* Effect.fork(
        open({ mode: "server", listen: endpointB, onEvents: (es) => Effect.sync(() => void events.push(...es)) }).pipe(Effect.provide(stack))
      )
      yield* Effect.sleep(10)
      // a frame that is no v2 hello, on a connection left open
      const wrong = yield* network.connect(endpointB)
      yield* wrong.write(Buffer.concat([Buffer.from([0, 0, 0, 40]), Buffer.alloc(40, "x")]))
      yield* until(() => events.some((e) => e._tag === "connected"), 1_000)
      const client = yield* open({ mode: "client", target: endpointB }).pipe(Effect.provide(stack))
      const srv = yield* Effect.flatten(server.await)
      yield* client.leave()
      yield* srv.outcome
      expect(events.filter((e) => e._tag === "rejected").map((e) => e._tag === "rejected" && e.role)).toEqual(["listener"])
    })
  )

  it.scopedLive("a late subscriber's replay is bounded in events (1,024), and keeps the newest", () =>
    Effect.gen(function* () {
      const { client, srv } = yield* pair
      const count = 1_500
      for (let i = 0; i < count; i++) yield* client.send(`${i}`)
      yield* Stream.runDrain(Stream.take(srv.messages, count))
      yield* client.leave({ drainMs: 1000 })
      yield* srv.outcome
      const replayed = Chunk.toArray(yield* Stream.runCollect(srv.events))
      expect(replayed.length).toBe(1_024)
      const texts = replayed.flatMap((e) => (e._tag === "message" ? [e.text] : []))
      expect(texts.at(-1)).toBe(`${count - 1}`)
      expect(texts).toEqual(Array.from({ length: texts.length }, (_, i) => `${count - texts.length + i}`))
    }).pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, LengthPrefixFraming.layer(), L.v2)))
  )

  // Bob's subscriber takes the first text and stops; bob's own sends then wait for alice's receipts (over 16 K
  // unacknowledged), which could be behind her texts, so bob reads on past the usual lag. Alice, driven by hand,
  // reads all bob writes, never acknowledges a text of his, and sends `count` texts: how many did bob take in?
  const stuckWhileSendsWait = (count: number, send: (fc: FramedConn, sc: V2Protocol.V2Session) => Effect.Effect<void, unknown>) =>
    Effect.gen(function* () {
      const network = yield* MemoryTransport.make
      const listen = { host: "memory-bob", port: 1 }
      const stack = Layer.mergeAll(Layer.succeed(Transport, network), LengthPrefixFraming.layer(), L.v2)
      const opening = yield* Effect.fork(open({ mode: "server", listen, heartbeatMs: 0 }).pipe(Effect.provide(stack)))
      yield* Effect.sleep(10)
      const fc = frame(yield* network.connect(listen))
      const sc = yield* V2Protocol.handshake(node, fc, "connector")
      const bob = yield* Fiber.join(opening)
      let delivered = 0
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.flatMap(fc.readFrames, (frames) =>
            Effect.sync(() => {
              for (const f of frames) {
                const step = sc.receive(f)
                if (!(step instanceof SessionError)) for (const e of step.events) if (e._tag === "Delivered") delivered += e.ids.length
              }
            })
          )
        )
      )
      yield* Effect.forkScoped(Stream.runForEach(bob.messages, () => Effect.never))
      yield* Effect.forkScoped(Effect.forEach(Array.from({ length: 16_500 }, (_, i) => `b${i}`), (t) => bob.send(t), { discard: true }))
      yield* Effect.forkScoped(send(fc, sc))
      yield* untilStill(() => delivered, count)
      return delivered
    })

  it.scopedLive("a subscriber stuck while our own sends wait for receipts: reading goes on for those, but stops at 32 M UTF-16 units untaken", () =>
    Effect.gen(function* () {
      // 600 texts of 60,000 UTF-16 units: 36 M in all
      const big = "z".repeat(60_000)
      const delivered = yield* stuckWhileSendsWait(600, (fc, sc) =>
        Effect.forEach(Array.from({ length: 600 }, (_, i) => i), (i) => fc.writeFrames(sc.send(String(i + 1), big).frames), { discard: true })
      )
      // 32 Mi units are 559 such texts (the soft bound, 1 Mi, 17); without the bound bob took in all 600
      expect(delivered).toBeGreaterThan(540)
      expect(delivered).toBeLessThan(600)
    }),
    60_000
  )

  it.scopedLive("...and at 256 K events untaken, however short their texts", () =>
    Effect.gen(function* () {
      const count = 300_000
      const delivered = yield* stuckWhileSendsWait(count, (fc, sc) =>
        Effect.forEach(
          Array.from({ length: count / MAX_BATCH }, (_, b) => b),
          (b) => fc.writeFrames(sc.sendMany(Array.from({ length: MAX_BATCH }, (_, i) => ({ id: String(b * MAX_BATCH + i + 1), text: "s" }))).frames),
          { discard: true }
        )
      )
      // bob's own 16,500 "sent" events count too; without the bound bob took in all 300,000
      expect(delivered).toBeGreaterThan(230_000)
      expect(delivered).toBeLessThan(262_144)
    }),
    60_000
  )

  it.scopedLive("a peer that sends without reading stops being read once 8 MiB of our frames wait for it: memory stays bounded", () =>
    Effect.gen(function* () {
      const { fc, sc, fl, sl } = yield* handshaken
      yield* startChat(fl, sl, { emit: () => Effect.void })
      const written = yield* floodUntilStill(fc, sc)
      // our receipts waited (8 MiB), then their reading stopped: what was read ahead, and the socket's buffers
      expect(written).toBeGreaterThan(8 * 1024 * 1024)
      expect(written).toBeLessThan(14 * 1024 * 1024)
    })
  )

  it.scopedLive("v2: a text sent after our goodbye is not sent, and is listed undelivered: never lost in silence", () =>
    Effect.gen(function* () {
      const { client, srv } = yield* pair
      yield* client.send("before")
      // its receipt in: nothing to wait for, so the leave says goodbye at once (while receipts are awaited, sends
      // still go out, and are receipted)
      yield* Stream.runDrain(Stream.take(Stream.filter(client.events, (e) => e._tag === "delivered"), 1))
      yield* client.leave()
      const late = yield* client.send("too late")
      expect(yield* client.outcome).toEqual({ _tag: "Left", undelivered: [late] })
      yield* srv.outcome
      const got = Chunk.toArray(yield* Stream.runCollect(srv.events)).flatMap((e) => (e._tag === "message" ? [e.text] : []))
      expect(got).toEqual(["before"])
    }).pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, LengthPrefixFraming.layer(), L.v2)))
  )

  it.scopedLive("v2: a connection cut without a goodbye is 'connection lost', with our unacknowledged ids; never 'peer left'", () =>
    Effect.gen(function* () {
      const { c, fc, sc, chat, events } = yield* chatWithRawPeer
      // the peer's side sends two messages, then its connection drops (no goodbye)
      yield* fc.writeFrames([...sc.send("1", "one").frames, ...sc.send("2", "two").frames])
      yield* chat.send("unanswered")
      yield* c.close
      const outcome = yield* chat.outcome
      expect(outcome._tag).toBe("Failed")
      expect(outcome.undelivered).toEqual(["1"])
      expect(events.filter((e) => e._tag === "message").map((e) => (e as { text: string }).text)).toEqual(["one", "two"])
      expect(events.some((e) => e._tag === "peer-left")).toBe(false)
      expect(events.at(-1)).toMatchObject({ _tag: "disconnected", reason: "connection lost", undelivered: ["1"] })
    })
  )

  it.scopedLive("v2: texts still waiting to be encrypted when the connection drops are reported undelivered too", () =>
    Effect.gen(function* () {
      const { c, chat, events } = yield* chatWithRawPeer
      // the peer reads nothing: past the unsent limit (1 MiB) the rest waits unencrypted
      const ids: Array<string> = []
      for (let i = 0; i < 40; i++) ids.push(yield* chat.send(`${i} ${"x".repeat(60_000)}`))
      yield* Effect.sleep(50)
      yield* c.close
      const outcome = yield* chat.outcome
      expect(outcome._tag).toBe("Failed")
      expect(outcome.undelivered).toEqual(ids)
      // each has had its `sent`, with its text, before the end that lists it: a script that knows its lines by
      // these events could not tell which lines the ids of the waiting ones were
      const end = events.findIndex((e) => e._tag === "disconnected")
      const announced = events.slice(0, end).flatMap((e) => (e._tag === "sent" ? [[e.id, e.text.slice(0, 3)]] : []))
      expect(announced).toEqual(ids.map((id, i) => [id, `${i} x`.slice(0, 3)]))
      // a send after the end is refused, never accepted and lost
      const late = yield* Effect.either(chat.send("too late"))
      expect(late._tag).toBe("Left")
    })
  )

  it.scopedLive("v2: a sender blocked because a megabyte of texts waits unencrypted is refused when the chat ends, not left hanging", () =>
    Effect.gen(function* () {
      const { c, chat, events } = yield* chatWithRawPeer
      const sends = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 1300 }, (_, i) => `${i} ${"x".repeat(10_000)}`), (t) => Effect.either(chat.send(t)))
      )
      yield* Effect.sleep(100)
      yield* c.close
      const outcome = yield* chat.outcome
      const results = yield* Fiber.join(sends).pipe(Effect.timeout("5 seconds"))
      const accepted = results.filter((r) => r._tag === "Right").map((r) => r.right)
      // the megabyte sent but not taken (about 100 texts of 10 KB) and the megabyte waiting to be encrypted
      expect(accepted.length).toBeGreaterThanOrEqual(200)
      expect(accepted.length).toBeLessThan(1300)
      // every accepted id is either acknowledged (none here: the peer reads nothing) or reported
      expect(outcome.undelivered).toEqual(accepted)
      // and announced, those never taken from the queue too
      expect(events.flatMap((e) => (e._tag === "sent" ? [e.id] : []))).toEqual(accepted)
    })
  )

  // A round that took a finished write and the connection's end together ended the chat (the end), then used
  // the room the write made to encrypt texts that waited: they were neither in the list of undelivered ones,
  // made at the end, nor waiting any more. 51 of 260 accepted texts went unreported once, in a slow run.
  it.scopedLive("v2: texts that wait for room when a write finishes as the connection ends are reported, none encrypted after the end", () =>
    Effect.gen(function* () {
      const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      // once the chat runs, the listener's writes wait for the gate, as on a link whose peer reads nothing
      const gate = yield* Deferred.make<void>()
      let gating = false
      const gated: Conn = {
        ...l,
        write: (data) => (gating ? Effect.zipRight(Deferred.await(gate), l.write(data).pipe(Effect.ignore)) : l.write(data)),
        writev: undefined
      }
      const fc = frame(c)
      const fl = frame(gated)
      const [, sl] = yield* Effect.all([V2Protocol.handshake(node, fc, "connector"), V2Protocol.handshake(node, fl, "listener")], { concurrency: 2 })
      gating = true
      const events: Array<ChatEvent> = []
      const chat = yield* startChat(fl, sl, { emit: (es) => Effect.sync(() => void events.push(...es)), heartbeatMs: 0 })
      const sends = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 300 }, (_, i) => `${i} ${"x".repeat(10_000)}`), (t) => Effect.either(chat.send(t)))
      )
      // the first write waits; behind it the send limit's megabyte, and texts waiting to be encrypted
      yield* until(() => events.filter((e) => e._tag === "sent").length >= 150)
      yield* Effect.sleep(50)
      // in one step: the writes finish (room to encrypt) and the peer's side closes (the chat's end)
      yield* Deferred.succeed(gate, undefined)
      yield* c.close
      const outcome = yield* chat.outcome
      const results = yield* Fiber.join(sends).pipe(Effect.timeout("5 seconds"))
      const accepted = results.filter((r) => r._tag === "Right").map((r) => r.right)
      expect(accepted.length).toBeGreaterThan(150)
      expect(outcome._tag).toBe("Failed")
      // every accepted id is reported (the peer acknowledged none), each announced before
      expect(outcome.undelivered).toEqual(accepted)
      expect(events.flatMap((e) => (e._tag === "sent" ? [e.id] : []))).toEqual(accepted)
    })
  )

  it.scopedLive("a sender waiting for room when the chat's scope closes is refused, not left hanging", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { chat } = yield* Scope.extend(chatWithRawPeer, scope)
      // the sender lives outside the chat's scope, as a library user's fiber would
      const sends = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 1300 }, (_, i) => `${i} ${"x".repeat(10_000)}`), (t) => Effect.either(chat.send(t)))
      )
      yield* Effect.sleep(100)
      yield* Scope.close(scope, Exit.void)
      const results = yield* Fiber.join(sends).pipe(Effect.timeout("5 seconds"))
      const refused = results.filter((r) => r._tag === "Left").map((r) => r.left.reason)
      expect(refused.length).toBeGreaterThan(0)
      expect(refused.length).toBeLessThanOrEqual(1300 - 200)
      expect(new Set(refused)).toEqual(new Set(["Ended"]))
    })
  )

  it.scopedLive("v2: a peer that acknowledges nothing gets at most 16,384 messages; its receipts let the rest go", () =>
    Effect.gen(function* () {
      const { fc, sc, chat, events } = yield* chatWithRawPeer
      const total = 20_000
      const sent = () => events.filter((e) => e._tag === "sent").length
      yield* Effect.fork(Effect.forEach(Array.from({ length: total }, (_, i) => `m${i}`), (t) => chat.send(t)))
      // read (so no socket back-pressure is involved) but do not acknowledge
      let received = 0
      const readSome = Effect.gen(function* () {
        for (const f of yield* fc.readFrames) {
          const step = sc.receive(f)
          if (step instanceof SessionError) return yield* Effect.die(step)
          received += step.events.filter((e) => e._tag === "Message").length
        }
      })
      for (let i = 0; i < 500 && (received < 16_384 || i < 20); i++) yield* readSome.pipe(Effect.timeout(20), Effect.ignore)
      expect(received).toBe(16_384)
      // `sent` says a message was taken: those encrypted, and those waiting for the window (the send queue
      // takes at most 1,024 more)
      expect(sent()).toBeGreaterThanOrEqual(16_384)
      expect(sent()).toBeLessThanOrEqual(16_384 + 1_024)
      // the receipts open the window again: everything else follows
      for (let i = 0; i < 2_000 && received < total; i++) {
        yield* fc.writeFrames(sc.flush!().frames)
        yield* readSome.pipe(Effect.timeout(20), Effect.ignore)
      }
      expect(received).toBe(total)
      yield* fc.writeFrames(sc.flush!().frames)
      yield* until(() => events.filter((e) => e._tag === "delivered").length >= total)
      expect(events.filter((e) => e._tag === "delivered").length).toBe(total)
    })
  )

  it.scopedLive("v2: a sender time no Date can hold ends the chat with a clear error, not a crash; what came before is kept, nothing after it is taken", () =>
    Effect.gen(function* () {
      const { fc, sc, chat, events } = yield* chatWithRawPeer
      const peer = sc as V2Protocol.V2Session
      // authentic (sealed by the peer's own ratchet), only its time is out of any Date's range; the frame after
      // it comes in the same read, and the session would open it: the chat has ended by then
      yield* fc.writeFrames([
        ...peer.send("1", "genuine").frames,
        peer.seal({ v: 1, kind: "text", id: "2", sentAt: 1e300, body: "from the year 10^292" }),
        ...peer.send("3", "after the end").frames
      ])
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "SessionError", reason: "Malformed" } })
      expect(events.filter((e) => e._tag === "message").map((e) => (e as { text: string }).text)).toEqual(["genuine"])
      expect(events.find((e) => e._tag === "error")).toMatchObject({ code: "SessionError.Malformed" })
    })
  )

  it.scopedLive("a bug that throws inside the chat loop ends the chat with one sentence and the undelivered ids, not a hang", () =>
    Effect.gen(function* () {
      const { fc, sc, fl, sl } = yield* handshaken
      const broken = throwingOnReceive(sl)
      const events: Array<ChatEvent> = []
      const chat = yield* startChat(fl, broken, { emit: (es) => Effect.sync(() => void events.push(...es)), heartbeatMs: 0 })
      yield* chat.send("ours, never acknowledged")
      yield* fc.writeFrames(sc.send("1", "theirs").frames)
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "InternalError" }, undelivered: ["1"] })
      const error = events.find((e) => e._tag === "error")
      expect(error).toMatchObject({ code: "InternalError" })
      expect((error as { message: string }).message).toMatch(/^p2pchat hit an internal error and ended the chat \(RangeError: a bug\)/)
      expect(events.at(-1)).toMatchObject({ _tag: "disconnected", reason: "connection lost", undelivered: ["1"] })
    })
  )

  it.scopedLive("a bug that throws while reading ends the chat the same way", () =>
    Effect.gen(function* () {
      const { fl, sl } = yield* handshaken
      const chat = yield* startChat({ ...fl, readFrames: Effect.die(new TypeError("a reader bug")) }, sl, { emit: () => Effect.void, heartbeatMs: 0 })
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "InternalError", detail: "TypeError: a reader bug" } })
    })
  )

  it.scopedLive("a view that throws on every event still lets the chat end with a known outcome", () =>
    Effect.gen(function* () {
      const { fc, sc, fl, sl } = yield* handshaken
      const chat = yield* startChat(fl, sl, { emit: () => Effect.die(new Error("a view bug")), heartbeatMs: 0 })
      yield* fc.writeFrames(sc.send("1", "shown by nobody").frames)
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "InternalError", detail: "Error: a view bug" } })
    })
  )

  it.scopedLive("a bug that throws while writing ends the chat the same way, not a loop waiting forever", () =>
    Effect.gen(function* () {
      const { fl, sl } = yield* handshaken
      const events: Array<ChatEvent> = []
      const chat = yield* startChat({ ...fl, writeFrames: () => Effect.die(new TypeError("a writer bug")) }, sl, {
        emit: (es) => Effect.sync(() => void events.push(...es)),
        heartbeatMs: 0
      })
      yield* chat.send("never written")
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "InternalError", detail: "TypeError: a writer bug" }, undelivered: ["1"] })
      expect(events.find((e) => e._tag === "error")).toMatchObject({ code: "InternalError" })
    })
  )

  it.scopedLive("a bug that throws in a heartbeat sealed while the view waits ends the chat the same way (the ticker died unheard)", () =>
    Effect.gen(function* () {
      const { fc, sc, fl, sl } = yield* handshaken
      const heartbeatMs = 100
      // only the first heartbeat throws: the one the ticker seals while the view holds the loop
      let beats = 0
      const broken = new Proxy(sl, {
        get: (target, key) =>
          key === "heartbeat"
            ? (...args: Array<unknown>) => {
                if (beats++ === 0) throw new RangeError("a heartbeat bug")
                return (target.heartbeat as (...a: Array<unknown>) => unknown)(...args)
              }
            : Reflect.get(target, key, target)
      })
      const gate = yield* Deferred.make<void>()
      const chat = yield* startChat(fl, broken, {
        emit: (es) => (es.some((e) => e._tag === "message") ? Deferred.await(gate) : Effect.void),
        heartbeatMs
      })
      yield* fc.writeFrames(sc.send("1", "held by the view").frames)
      for (let i = 0; i < 300 && beats === 0; i++) yield* Effect.sleep(10)
      expect(beats).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      const outcome = yield* chat.outcome.pipe(Effect.timeout("2 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "InternalError", detail: "RangeError: a heartbeat bug" } })
    })
  )

  it.scopedLive("v2: garbage after a valid handshake ends the chat with a clear error; what came before is kept", () =>
    Effect.gen(function* () {
      const { fc, sc, chat, events } = yield* chatWithRawPeer
      yield* fc.writeFrames([...sc.send("1", "genuine").frames, new TextEncoder().encode("not a v2 frame at all")])
      const outcome = yield* chat.outcome
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "SessionError", reason: "Malformed" } })
      expect(events.filter((e) => e._tag === "message").map((e) => (e as { text: string }).text)).toEqual(["genuine"])
      expect(events.find((e) => e._tag === "error")).toMatchObject({ code: "SessionError.Malformed" })
    })
  )

  it.scopedLive("v2: a receipt that names a message again, or one we never sent, adds no delivered event", () =>
    Effect.gen(function* () {
      const { fc, sc, chat, events } = yield* chatWithRawPeer
      const peer = sc as V2Protocol.V2Session
      const id = yield* chat.send("once")
      // authentic receipts from the peer's own ratchet: ours twice in one, an id we never gave, ours again
      yield* fc.writeFrames([
        peer.seal({ v: 1, kind: "receipt", ids: [id, id, "999"] }),
        peer.seal({ v: 1, kind: "receipt", ids: [id] }),
        ...peer.send("1", "after the receipts").frames
      ])
      yield* until(() => events.some((e) => e._tag === "message"))
      expect(events.filter((e) => e._tag === "message")).toHaveLength(1)
      expect(events.filter((e) => e._tag === "delivered")).toEqual([expect.objectContaining({ id })])
    })
  )

  it.scopedLive("v2: a kind of message from a newer peer is shown as unsupported, and the chat goes on", () =>
    Effect.gen(function* () {
      const { fc, sc, chat, events } = yield* chatWithRawPeer
      const peer = sc as V2Protocol.V2Session
      // authentic, of a kind this version does not know (a newer peer's file transfer, say)
      const newer = { v: 1, kind: "file-chunk", n: 3 } as unknown as Payload
      yield* fc.writeFrames([peer.seal(newer), ...peer.send("1", "after it").frames])
      yield* until(() => events.some((e) => e._tag === "message"))
      expect(events.filter((e) => e._tag === "unsupported" || e._tag === "message")).toEqual([
        expect.objectContaining({ _tag: "unsupported", kind: "file-chunk" }),
        expect.objectContaining({ _tag: "message", text: "after it" })
      ])
      expect(yield* chat.outcome.pipe(Effect.timeout(200), Effect.option)).toEqual(Option.none())
    })
  )

  it.scopedLive("v2: after the peer's goodbye nothing more is sent, not even the answer to a heartbeat that came with it", () =>
    Effect.gen(function* () {
      const { fc, sc, chat } = yield* chatWithRawPeer
      // in one read: the peer's heartbeat asking for a sign of life, then its goodbye
      yield* fc.writeFrames([...sc.heartbeat!().frames, ...sc.leave("bye").frames])
      expect(yield* chat.outcome.pipe(Effect.timeout("2 seconds"))).toMatchObject({ _tag: "PeerLeft" })
      // the chat has closed the connection: whatever it wrote before is there to read
      const after = yield* fc.readFrames.pipe(Effect.timeout(500), Effect.either)
      expect(after._tag === "Right" ? after.right.length : 0).toBe(0)
    })
  )

  /** Sends `count` texts of 64 KiB to a peer that reads none, from a fiber of its own: the ids given, once no more are taken. */
  const sendUntilStalled = (chat: ChatHandle, count: number) =>
    Effect.gen(function* () {
      const ids: Array<string> = []
      yield* Effect.forkScoped(Effect.forEach(Array.from({ length: count }), () => Effect.map(chat.send("x".repeat(64 * 1024)), (id) => void ids.push(id)), { discard: true }))
      yield* untilStill(() => ids.length, count)
      return ids
    })

  it.scopedLive("a bug that throws while our sends wait for room still lists every one of them undelivered", () =>
    Effect.gen(function* () {
      const { fc, sc, fl, sl } = yield* handshaken
      const broken = throwingOnReceive(sl)
      const chat = yield* startChat(fl, broken, { emit: () => Effect.void, heartbeatMs: 0 })
      // the peer reads nothing: a megabyte is sealed, the rest waits in the loop for room
      const ids = yield* sendUntilStalled(chat, 40)
      expect(ids.length).toBeGreaterThan(20)
      yield* fc.writeFrames(sc.send("1", "theirs").frames)
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "InternalError" } })
      expect(outcome.undelivered).toEqual(ids)
    })
  )

  it.scopedLive("texts sent after our goodbye and texts held back for room are listed undelivered oldest first", () =>
    Effect.gen(function* () {
      const { chat } = yield* chatWithRawPeer
      // the peer reads nothing: what it holds and a megabyte are sealed, the rest is held back for room (the short
      // texts too, behind the long ones), and leaves room for more in the queue
      const ids = yield* sendUntilStalled(chat, 24)
      expect(ids).toHaveLength(24)
      for (let i = 0; i < 3; i++) ids.push(yield* chat.send(`short ${i}`))
      yield* chat.leave({ drainMs: 0 })
      yield* Effect.sleep(200)
      const late = yield* chat.send("after the goodbye")
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toEqual({ _tag: "Left", undelivered: [...ids, late] })
    })
  )

  it.scopedLive("a connection that fails while reading waits for our backlog ends the chat as lost at once", () =>
    Effect.gen(function* () {
      const { fc, sc, fl, sl } = yield* handshaken
      // our writes never get through, until the connection fails under them
      const cut = yield* Deferred.make<void>()
      const stuck: FramedConn = {
        ...fl,
        writeFrames: () => Effect.zipRight(Deferred.await(cut), Effect.fail(new TransportError({ reason: "Reset", detail: "reset by the peer" })))
      }
      const chat = yield* startChat(stuck, sl, { emit: () => Effect.void, heartbeatMs: 0 })
      // until our receipts stop the reading
      expect(yield* floodUntilStill(fc, sc)).toBeGreaterThan(8 * 1024 * 1024)
      yield* Deferred.succeed(cut, undefined)
      // the frames still queued cannot be written any more: the end does not wait for them
      const outcome = yield* chat.outcome.pipe(Effect.timeout("1500 millis"))
      expect(outcome).toMatchObject({ _tag: "Failed", error: { _tag: "TransportError", reason: "Reset" } })
    })
  )

  it.live("a scope interrupted while a leave waits for receipts closes at once, without that wait", () =>
    Effect.gen(function* () {
      const waiting = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Effect.scoped(
          Effect.gen(function* () {
            // the raw peer never acknowledges
            const { chat } = yield* chatWithRawPeer
            yield* chat.send("never acknowledged")
            yield* chat.leave({ drainMs: 5_000 })
            yield* Deferred.succeed(waiting, undefined)
            return yield* Effect.never
          })
        )
      )
      yield* Deferred.await(waiting)
      const closed = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("1500 millis"), Effect.exit)
      expect(closed._tag).toBe("Success")
    })
  )

  it.scopedLive("a send the chat never took, as the peer's goodbye came first, is announced as sent and listed undelivered", () =>
    Effect.gen(function* () {
      // the view holds the loop on the peer's first message, while its goodbye and then our text wait behind it
      const gate = yield* Deferred.make<void>()
      const { fc, sc, chat, events } = yield* chatWithRawPeerShowing((es) => (es.some((e) => e._tag === "message") ? Deferred.await(gate) : Effect.void))
      yield* fc.writeFrames(sc.send("1", "first").frames)
      yield* until(() => events.some((e) => e._tag === "message"))
      yield* fc.writeFrames(sc.leave("bye").frames)
      yield* Effect.sleep(50)
      const id = yield* chat.send("crossing their goodbye")
      yield* Deferred.succeed(gate, undefined)
      const outcome = yield* chat.outcome.pipe(Effect.timeout("5 seconds"))
      expect(outcome).toEqual({ _tag: "PeerLeft", reason: "bye", undelivered: [id] })
      const end = events.slice(events.findIndex((e) => e._tag === "peer-left"))
      expect(end.map((e) => e._tag)).toEqual(["peer-left", "sent", "disconnected"])
      expect(end[1]).toMatchObject({ id, text: "crossing their goodbye" })
      expect(end[2]).toMatchObject({ reason: "peer left", undelivered: [id] })
    })
  )

  it.scopedLive("v2: each message carries its own sender's time, frame after frame", () =>
    Effect.gen(function* () {
      const { fc, sc, events } = yield* chatWithRawPeer
      const peer = sc as V2Protocol.V2Session
      yield* fc.writeFrames([
        peer.seal({ v: 1, kind: "text", id: "1", sentAt: 1_000, body: "one" }),
        peer.seal({ v: 1, kind: "text", id: "2", sentAt: 1_000, body: "one too" }),
        peer.seal({ v: 1, kind: "text", id: "3", sentAt: 2_500, body: "two" })
      ])
      yield* until(() => events.filter((e) => e._tag === "message").length >= 3)
      expect(events.flatMap((e) => (e._tag === "message" ? [e.sentAt] : []))).toEqual([
        "1970-01-01T00:00:01.000Z",
        "1970-01-01T00:00:01.000Z",
        "1970-01-01T00:00:02.500Z"
      ])
    })
  )

  it.scopedLive("a text refused says why in its reason: Empty, TooLong (what a library matches on)", () =>
    Effect.gen(function* () {
      const { chat } = yield* chatWithRawPeer
      const refused = (text: string) => Effect.flip(chat.send(text))
      expect(yield* refused("")).toMatchObject({ _tag: "SendRefused", reason: "Empty" })
      expect(yield* refused("x".repeat(64 * 1024 + 1))).toMatchObject({ _tag: "SendRefused", reason: "TooLong" })
    })
  )
})

/** The same connection writing in pieces of `size` bytes, as TLS records arrive: long frames are assembled. */
const inPieces = (conn: Conn, size: number): Conn => {
  const { writev: _, ...rest } = conn
  return {
    ...rest,
    write: (data) =>
      Effect.forEach(
        Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)),
        (piece) => conn.write(piece),
        { discard: true }
      )
  }
}

describe("frames assembled from pieces", () => {
  it.scopedLive("v2: long texts arrive intact while the chat gives their frames' buffers back for later frames", () =>
    Effect.gen(function* () {
      const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const fc = frame(inPieces(c, 16_384))
      const inner = frame(l)
      const buffers = new Set<ArrayBufferLike>()
      let framesRead = 0
      let recycled = 0
      const fl: FramedConn = {
        ...inner,
        readFrames: Effect.tap(inner.readFrames, (frames) => {
          for (const f of frames) buffers.add(f.buffer)
          framesRead += frames.length
        }),
        recycle: (frames) => {
          recycled += frames.length
          inner.recycle!(frames)
        }
      }
      const [sc, sl] = yield* Effect.all([V2Protocol.handshake(node, fc, "connector"), V2Protocol.handshake(node, fl, "listener")], {
        concurrency: 2
      })
      const texts: Array<string> = []
      const chat = yield* startChat(fl, sl, {
        emit: (events) => Effect.sync(() => void texts.push(...events.flatMap((e) => (e._tag === "message" ? [e.text] : [])))),
        heartbeatMs: 0
      })
      // each text different in every byte from the one before: a frame read into a reused buffer while an
      // earlier text still pointed into it would show
      const sent = Array.from({ length: 60 }, (_, i) => String.fromCharCode(0x61 + (i % 26)).repeat(65_000))
      for (const [i, text] of sent.entries()) yield* fc.writeFrames(sc.send(String(i + 1), text).frames)
      for (let i = 0; i < 500 && texts.length < sent.length; i++) yield* Effect.sleep(10)
      expect(texts).toEqual(sent)
      expect(recycled).toBe(framesRead)
      // the 60 frames were assembled into fewer buffers than frames: given back, and used again
      expect(buffers.size).toBeLessThan(framesRead)
      yield* chat.leave()
    })
  )
})
