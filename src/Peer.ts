import { type Chunk, type Duration, Effect, Option, PubSub, type Scope, Stream } from "effect"
import { readU32be } from "./domain/bytes.js"
import type { Endpoint } from "./domain/address.js"
import {
  type ChatError,
  type ConnectError,
  describeError,
  type FrameError,
  type HandshakeError,
  type ListenError,
  type TransportError
} from "./domain/errors.js"
import { type ChatEvent, event } from "./domain/events.js"
import { HEADER_BYTES } from "./domain/frame.js"
import { MIN_HEARTBEAT_MS } from "./domain/session.js"
import { showInput } from "./domain/text.js"
import { startChat } from "./layers/ChatDriver.js"
import type { ChatHandle, ReadGate } from "./services/Chat.js"
import { establish, type Mode } from "./services/Connection.js"
import { Framing } from "./services/Framing.js"
import { Handshake } from "./services/Handshake.js"
import type { Transport } from "./services/Transport.js"

export interface PeerOptions {
  /** "client" connects, "server" listens, "auto" does both and settles on one connection. */
  readonly mode: Mode
  /**
   * Where to listen (server, auto). Port 0 picks a free port (see the `listening` event). A port no socket can
   * have (70000, -1, 1.5) is a caller's mistake: `open` dies saying so.
   */
  readonly listen?: Endpoint
  /** Whom to reach: required in client and auto mode, at a port from 1 to 65535 (else `open` dies saying so). */
  readonly target?: Endpoint
  /** How long client mode retries an unreachable target: 0 tries once, Infinity for good. Default 10 seconds. */
  readonly connectFor?: Duration.DurationInput
  /** Deadline for one peer's handshake: more than 0, and finite. Default 10 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput
  /**
   * Idle time before a heartbeat (v2); silence over 3x this ends the chat (seen at the next beat, so within 4x).
   * Default 5 s; 0 turns it off; else at least 100.
   */
  readonly heartbeatMs?: number
  /**
   * Called with every batch of events, in order, as they happen (the terminal and JSON views use this). The
   * chat waits for it (nothing more is read from the peer meanwhile, so memory stays bounded and TCP holds
   * the peer back); a `send` made from it is taken at once, never waiting for room the chat would make.
   */
  readonly onEvents?: (events: ReadonlyArray<ChatEvent>) => Effect.Effect<void>
  /**
   * How a connection turned away is said in its `rejected` event. Default `describeError`, whose sentences name
   * no setting; the CLI gives its own wording, which names the flag to change ("allow more with
   * --handshake-timeout").
   */
  readonly describe?: (error: ChatError) => string
}

/** An open end-to-end encrypted chat with one peer. */
export interface PeerSession extends ChatHandle {
  /**
   * Every event from `listening` on. Each subscriber gets the last 1024 events before it subscribed (fewer
   * when their texts pass 256 Ki characters), then everything after, so subscribing right after `open`
   * misses nothing.
   *
   * A subscriber that falls more than 4,096 events or about a megabyte of text behind holds back reading
   * from the peer (TCP then holds the peer back) until it catches up; sending, receipts and heartbeats go on,
   * and the peer's silence meanwhile does not end the chat. So keep pulling, or end the stream (`Stream.take`,
   * `runHead`), rather than leave a subscription idle. While our own sends wait for the peer's receipts,
   * reading goes on up to 256 Ki events or 32 Mi characters (a bot that answers every message cannot then
   * hold both sides).
   *
   * For bulk transfer take events through `onEvents` (as the CLI does) or `Stream.toPull`: with effect 3.22,
   * `Stream.runForEach` keeps the chunks it has processed reachable through young-generation collections,
   * and receiving 64 KiB texts that way cost about 420 instead of 300 µs of CPU each (measured).
   */
  readonly events: Stream.Stream<ChatEvent>
  /** Only the incoming text messages. */
  readonly messages: Stream.Stream<{ readonly id: string; readonly text: string }>
}

/**
 * Events (or their texts' UTF-16 units) a subscriber may leave untaken before reading from the peer waits for
 * it: a subscriber slower than a peer that floods it must not let memory grow without bound.
 */
const LAG_EVENTS = 4096
const LAG_UNITS = 1024 * 1024
/**
 * ...and while our own sends wait for the peer's receipts: those may be behind frames not read yet (a bot that
 * answers every message waits for its answers' room), so reading goes on, up to this.
 */
const HARD_LAG_EVENTS = 256 * 1024
const HARD_LAG_UNITS = 32 * 1024 * 1024
/** Events a subscriber's stream takes from its queue at once: held beyond the lag counted above. */
const TAKE_EVENTS = 64

/** Events a new subscriber gets from before it subscribed... */
const REPLAY = 1024
/** ...as long as their texts stay under this many UTF-16 code units (1024 texts of 64 KiB would be 64 MiB). */
const REPLAY_TEXT_UNITS = 256 * 1024

const textUnits = (e: ChatEvent) => (e._tag === "message" || e._tag === "sent" ? e.text.length : 0)

export type OpenError = ConnectError | ListenError | TransportError | HandshakeError | FrameError

/**
 * Connects (or listens), runs the handshake of the provided protocol and starts the chat. The connection lives
 * as long as the scope; closing the scope without `leave` cuts it (the peer sees a lost connection).
 */
export const open = (
  options: PeerOptions
): Effect.Effect<PeerSession, OpenError, Transport | Framing | Handshake | Scope.Scope> =>
  Effect.gen(function* () {
    // a caller's mistake, said as one: 1 (a second, meant?) would beat every millisecond and take 3 ms without a
    // frame for a peer gone
    const heartbeatMs = options.heartbeatMs ?? 5_000
    if (heartbeatMs !== 0 && !(Number.isFinite(heartbeatMs) && heartbeatMs >= MIN_HEARTBEAT_MS))
      return yield* Effect.dieMessage(
        `heartbeatMs ${showInput(String(heartbeatMs))} is no heartbeat: give 0 (off) or at least ${MIN_HEARTBEAT_MS} ms (silence for 3 of them ends the chat)`
      )
    const framing = yield* Framing
    const handshake = yield* Handshake
    // Our own replay of recent events rather than PubSub's `replay` option: a PubSub replay window keeps the
    // node it stopped at, and through its `next` links every event published after it, for as long as the
    // subscription lives (measured: 200k retained events in a 100k-message run).
    const hub = yield* PubSub.unbounded<ChatEvent>()
    const recent: Array<ChatEvent> = []
    let recentUnits = 0
    // what each live subscription has been published and not yet taken
    const lags = new Set<{ events: number; units: number }>()
    const readGate: ReadGate = {
      holds: (receiptsWait) => {
        for (const lag of lags) {
          if (lag.events > HARD_LAG_EVENTS || lag.units > HARD_LAG_UNITS) return true
          if (!receiptsWait && (lag.events > LAG_EVENTS || lag.units > LAG_UNITS)) return true
        }
        return false
      },
      latch: yield* Effect.makeLatch(true)
    }
    const emit = (events: ReadonlyArray<ChatEvent>) =>
      Effect.zipRight(
        Effect.suspend(() => {
          let units = 0
          for (const e of events) {
            recent.push(e)
            units += textUnits(e)
          }
          recentUnits += units
          for (const lag of lags) {
            lag.events += events.length
            lag.units += units
          }
          let drop = 0
          while (recent.length - drop > REPLAY || (recentUnits > REPLAY_TEXT_UNITS && drop < recent.length - 1))
            recentUnits -= textUnits(recent[drop++]!)
          if (drop > 0) recent.splice(0, drop)
          return PubSub.publishAll(hub, events)
        }),
        options.onEvents ? options.onEvents(events) : Effect.void
      )
    const established = yield* establish({
      mode: options.mode,
      local: options.listen ?? { host: "127.0.0.1", port: 0 },
      ...(options.target ? { target: options.target } : {}),
      connectFor: options.connectFor ?? "10 seconds",
      handshakeTimeout: options.handshakeTimeout ?? "10 seconds",
      handshake: (conn, role) => {
        const framed = framing.framed(conn)
        return Effect.map(handshake.run(framed, role), (session) => ({ framed, session }))
      },
      emit: (e) => emit([e]),
      describe: (e) => (options.describe ?? describeError)(e as ChatError),
      spare: (e) => e._tag === "HandshakeError" && e.reason === "Closed",
      // a frame within the limit (or too few bytes to tell): text such as "HTTP/1.1 400" reads as a length of a billion
      mayBegin: (first) => first.length < HEADER_BYTES || readU32be(first, 0) <= framing.maxFrame
    })
    const { framed, session } = established.result
    const info = session.info
    yield* emit([
      event({
        _tag: "handshake",
        protocol: info.protocol,
        localFingerprint: info.localFingerprint,
        peerFingerprint: info.peerFingerprint,
        ...(info.sas !== undefined ? { sas: info.sas } : {}),
        suite: info.suite
      })
    ])
    const chat = yield* startChat(framed, session, { emit, heartbeatMs, readGate })
    const events = Stream.unwrapScoped(
      Effect.gen(function* () {
        const lag = { events: 0, units: 0 }
        const live = yield* Effect.acquireRelease(
          Effect.map(PubSub.subscribe(hub), (queue) => (lags.add(lag), queue)),
          () => Effect.sync(() => (lags.delete(lag), readGate.latch.unsafeOpen()))
        )
        const replayed = recent.slice()
        // an event published between subscribing and the copy would come twice: skip those (by identity)
        const seen = new Set(replayed)
        const taken = (chunk: Chunk.Chunk<ChatEvent>) => {
          lag.events -= chunk.length
          for (const e of chunk) lag.units -= textUnits(e)
          // the reader checks the gate again (and waits again if another subscriber still lags)
          readGate.latch.unsafeOpen()
          return chunk
        }
        return Stream.concat(
          Stream.fromIterable(replayed),
          Stream.fromQueue(live, { maxChunkSize: TAKE_EVENTS }).pipe(
            Stream.mapChunks(taken),
            Stream.filter((e) => !seen.has(e))
          )
        )
      })
    ).pipe(Stream.takeUntil((e) => e._tag === "disconnected"))
    return {
      ...chat,
      events,
      messages: Stream.filterMap(events, (e) =>
        e._tag === "message" ? Option.some({ id: e.id, text: e.text }) : Option.none()
      )
    }
  })
