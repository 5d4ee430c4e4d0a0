import { Chunk, Deferred, Effect, Equal, Exit, Fiber, Mailbox, Queue, type Scope } from "effect"
import { type ChatError, describeError, errorCode, internalError, SessionError, TransportError } from "../domain/errors.js"
import { type ChatEvent, event } from "../domain/events.js"
import type { Session, Step } from "../domain/session.js"
import { seconds, textRefusal } from "../domain/text.js"
import { Unacknowledged } from "./Unacknowledged.js"
import type { ChatHandle, ChatOptions, ChatOutcome, SendRefused } from "../services/Chat.js"
import type { FramedConn } from "../services/Framing.js"

type Input =
  | { readonly _tag: "Send"; readonly id: string; readonly text: string }
  | { readonly _tag: "Leave"; readonly drainMs: number; readonly extendOnReceipt: boolean }
  | { readonly _tag: "Frames"; readonly frames: ReadonlyArray<Uint8Array> }
  | { readonly _tag: "ReadEnd"; readonly error: ChatError }
  | { readonly _tag: "Written"; readonly bytes: number; readonly frames: ReadonlyArray<Uint8Array> }
  | { readonly _tag: "Timer"; readonly what: "drain" | "settle" | "heartbeat" | "receipts" }

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** Most inputs handled per round: bounds latency while letting bursts share one socket write. */
const BATCH = 512
/**
 * Events after which a round hands the view what it has, leaving the rest of its inputs to the next round. A
 * receiver behind its peer took every batch read ahead in one round, up to 20,000 short texts whose events
 * were all alive at once: V8 then doubled its young generation, and a rate run's receiver peaked at 116 MB
 * (97 with this bound, and 7 % more messages a second; 8 of 8 alternating pairs).
 */
const ROUND_EVENTS = 2048
/** Messages accepted by `send` and not yet encrypted above which `send` waits for room. */
const SEND_SLOTS = 1024
/**
 * ...or their text, in UTF-16 units: the count alone let 64 MB of long texts wait for a peer that takes them
 * slowly (1,024 of 64 KiB, a piped file's lines). 16 texts of 64 KiB still wait here besides the megabyte
 * being sent, enough to keep the socket busy.
 */
const SEND_QUEUE_UNITS = 1024 * 1024
/** Batches of frames (one per network read) the reader may read ahead of the protocol loop... */
const READ_AHEAD_BATCHES = 64
/**
 * ...and their bytes. A batch of 64 KiB frames is up to a megabyte: while a view held the loop (a CLI whose
 * output a pipe takes slowly), 64 of them waited, and a CLI receiving a piped file (266 MB of 65,000-byte
 * lines) peaked at 213-222 MB, against 145-149 with this bound. 1 MiB gave 133-136, but the library's warm bulk
 * 5 % slower (10 of 12 runs); at 2 MiB no figure of the bulk run moved.
 */
const READ_AHEAD_BYTES = 2 * 1024 * 1024
/** Unsent bytes above which no new local messages are encrypted (the peer is not reading fast enough). */
const SEND_HIGH_WATER = 1024 * 1024
/**
 * Bytes of local messages encrypted in one round before they are handed to the writer: half the high-water
 * mark, so the socket writes one round while the loop encrypts the next. Smaller rounds cost more in
 * per-round work (bulk measured 144 MB/s at 128 KiB, 158 MB/s at 512 KiB).
 */
const ROUND_SEND_BYTES = 512 * 1024
/** Bytes received and sent in one round after which the loop lets the event loop poll sockets. */
const YIELD_AFTER_BYTES = 32 * 1024
/** What a text adds to the unsent bytes beyond its own length, counted before it is sealed. */
const FRAME_OVERHEAD = 160
/** Rounds of frames joined into one socket write. */
const WRITE_ROUNDS = 2
/**
 * Messages sent since the oldest one not yet acknowledged above which no new local messages are encrypted: the
 * peer shows what it receives more slowly than we send, and every id waiting for its receipt costs memory.
 */
const MAX_UNACKNOWLEDGED = 16 * 1024
/** Unsent bytes above which we stop reading too, so a peer that floods us without reading cannot grow memory. */
const HARD_HIGH_WATER = 8 * 1024 * 1024
/**
 * Receipts wait this long to be batched (only receipts: messages go out at once). Under load this turns one
 * receipt per message into one per few hundred, which halves the crypto work on both sides.
 */
const RECEIPT_DELAY_MS = 2
/** ...unless this many acknowledgements are already waiting. */
const RECEIPT_BATCH = 512
/** How long a seed goodbye waits for the peer's key reply before closing anyway. */
const SETTLE_MS = 3_000
/**
 * How much longer than its drain a leave asked for may hold the end of the chat's scope: the settle wait, then
 * finishAll's bounded flush (2 s) and close (3 s).
 */
const LEAVE_GRACE_MS = SETTLE_MS + 5_000

/**
 * Lets the event loop poll the sockets. Effect's own yields are microtasks, and no I/O happens between
 * microtasks: a loop with work queued would encrypt up to the high-water mark while the socket sits idle,
 * then wait while it drains (bulk transfer measured stop-and-go, both processes idle a third of the time).
 */
const yieldToIo = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * `then()` as soon as `hasRoom()`, checked in the same step. Otherwise waits for `latch`, which is opened
 * whenever room is made, and checks again: only a wait costs an asynchronous step. (A semaphore makes every
 * take one: measured 4.4 KB and 10 µs each, the largest cost of sending a short text.)
 */
const withRoom = <A, E>(latch: Effect.Latch, hasRoom: () => boolean, then: () => Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.suspend(function attempt(): Effect.Effect<A, E> {
    if (hasRoom()) return then()
    latch.unsafeClose()
    return Effect.zipRight(latch.await, Effect.suspend(attempt))
  })

/**
 * Milliseconds on a clock that only goes forward, for the heartbeat's intervals. The wall clock can be set back
 * (by NTP, by hand, a VM restored): an hour back, and for that hour no heartbeat went out and a peer gone silent
 * was never found gone. (Event times, `at`, stay wall-clock times.)
 */
const elapsedMs = () => performance.now()

/** What `send` answers once the chat is over. */
const ENDED: SendRefused = { _tag: "SendRefused", reason: "Ended", message: "The chat is over; nothing was sent." }

/**
 * Runs a chat: one fiber applies every protocol step (so crossing sends cannot race on the ratchet), a reader
 * fiber turns frames into inputs, and a writer fiber coalesces everything pending into one socket write.
 */
export const startChat = (
  framed: FramedConn,
  session: Session,
  options: ChatOptions
): Effect.Effect<ChatHandle, never, Scope.Scope> =>
  Effect.gen(function* () {
    // added first, so it runs last: after the scope has stopped every fiber below that could use the session
    yield* Effect.addFinalizer(() => Effect.sync(() => session.forget?.()))
    // a mailbox rather than a queue: the loop takes what waits as one array, where Queue.takeBetween builds
    // its batch one element at a time (measured 1.7 KB and 4.5 µs per input against 0.2 KB and 0.8 µs)
    const inputs = yield* Mailbox.make<Input>()
    const outbound = yield* Queue.unbounded<ReadonlyArray<Uint8Array>>()
    const outcome = yield* Deferred.make<ChatOutcome>()
    // bounds the messages accepted but not yet encrypted: local input waits instead of piling up
    let queuedSends = 0
    let queuedUnits = 0
    const sendRoom = yield* Effect.makeLatch(true)
    let nextId = 1
    let over = false
    // batches of frames read but not yet handled: while some wait, the peer has not gone silent, however long
    // ago the loop last looked (a view that could not write may have held it)
    let framesWaiting = 0
    let bytesWaiting = 0
    // the view can show nothing more (a leave with `viewGone`): set once, never unset
    let viewGone = false
    // says goodbye while the loop is parked in the view, if it is (set by the loop)
    let leaveWhileViewWaits = () => {}

    // the loop's record of our messages, kept out here so that even a bug that stops the loop can report them
    const undelivered = new Unacknowledged()
    const deferred: Array<{ id: string; text: string }> = []
    // at most READ_AHEAD_BATCHES of them: when the loop stops taking frames, the reader stops reading, the
    // socket pauses and TCP pushes back on the peer; so too while the read gate holds (its owner opens the latch)
    const gate = options.readGate
    const readRoom = gate?.latch ?? (yield* Effect.makeLatch(true))
    // our sends wait for receipts (see MAX_UNACKNOWLEDGED), which come in frames not read yet
    const receiptsWait = () => deferred.length > 0 && undelivered.span >= MAX_UNACKNOWLEDGED
    // the reader waits because of the gate: the peer's frames wait in the socket, its silence is ours
    let readHeld = false
    const mayRead = () =>
      framesWaiting < READ_AHEAD_BATCHES &&
      bytesWaiting < READ_AHEAD_BYTES &&
      !(readHeld = gate !== undefined && gate.holds(receiptsWait()))
    // how the reader, the writer and the heartbeat ticker stop: a failure, or a bug (rather than leaving the loop
    // waiting for input, or the peer for a heartbeat), ends the chat's input with that error
    const endsInput = (effect: Effect.Effect<never, ChatError>): Effect.Effect<boolean> =>
      effect.pipe(
        Effect.catchAll((error) => inputs.offer({ _tag: "ReadEnd", error })),
        Effect.catchAllDefect((defect) => inputs.offer({ _tag: "ReadEnd", error: internalError(defect) }))
      )
    const reader = yield* Effect.forkScoped(
      Effect.forever(
        withRoom(
          readRoom,
          mayRead,
          () =>
            Effect.flatMap(framed.readFrames, (frames) => {
              framesWaiting++
              for (const f of frames) bytesWaiting += f.length
              return inputs.offer({ _tag: "Frames", frames })
            })
        )
      ).pipe(endsInput)
    )
    const writer = yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          // a few rounds per write, not all that waits: while one write drains, the loop encrypts the next
          const batches = yield* Queue.takeBetween(outbound, 1, WRITE_ROUNDS)
          const frames: Array<Uint8Array> = []
          let bytes = 0
          for (const b of batches) for (const f of b) (frames.push(f), (bytes += f.length + 4))
          yield* framed.writeFrames(frames)
          // the connection is done with them: the loop hands them back to the session for reuse
          yield* inputs.offer({ _tag: "Written", bytes, frames })
        })
      ).pipe(endsInput)
    )

    const heartbeatMs = options.heartbeatMs ?? 0
    // inputs taken but not yet handled (beyond a round's batch, or set aside while the write backlog was over
    // the hard limit), handled before new ones; and the batch being handled
    let held: Array<Input> = []
    let inHand: ReadonlyArray<Input> = []
    // sends accepted (`send` gave their ids) that the loop never took, the chat having ended first: announced
    // with the chat's end, before the `disconnected` that lists them
    let neverTaken: Array<Extract<Input, { _tag: "Send" }>> = []
    const loop = Effect.gen(function* () {
      let unsent = 0
      const st: { leaving: "no" | "draining" | "goodbye" } = { leaving: "no" }
      // receipts taken so far, and the drain under way: an extending one is armed anew while they come
      let acknowledged = 0
      let drain: { readonly ms: number; readonly extend: boolean; acknowledgedAtArm: number } | undefined
      let lastHeard = elapsedMs()
      let lastSent = elapsedMs()
      // when the heartbeat timer last beat
      let lastBeat = elapsedMs()
      let receiptsScheduled = false
      let receiptsDue = false
      let result: ChatOutcome | undefined

      const finish = (o: DistributiveOmit<ChatOutcome, "undelivered">) => {
        result ??= { ...o, undelivered: undelivered.ids() } as ChatOutcome
      }

      // bytes received and handed to the writer this round: decides whether to let the event loop run next
      let roundBytes = 0
      // queued in the step that calls it (the queue is unbounded): a heartbeat sealed by the ticker goes out
      // in the order it was sealed in
      const sendNow = (frames: ReadonlyArray<Uint8Array>) => {
        for (const f of frames) roundBytes += f.length
        lastSent = elapsedMs()
        Queue.unsafeOffer(outbound, frames)
      }
      const send = (frames: ReadonlyArray<Uint8Array>) => Effect.sync(() => sendNow(frames))
      /**
       * The round whose events the view is showing, while the loop waits for it (heartbeats on): its `early`
       * frames acknowledge nothing, its `late` ones acknowledge what the view is showing (a receipt says
       * "shown"). A view that cannot write (nobody reads our output) holds the loop there: at the first beat
       * of the ticker after a heartbeat interval of that (so within two), `early` goes anyway, then a heartbeat
       * at each beat while nothing later waits (one sealed now must not overtake frames sealed before it), so the
       * peer, which waits three intervals, does not take a paused reader on this side for a dead connection.
       * The ticker rather than a timeout per round: a fiber and a timer per round kept each round's events
       * reachable until a full collection (the CLI's pipe 65 against 90 MB/s, measured).
       */
      let viewWait:
        | { since: number; early: ReadonlyArray<Uint8Array>; lateWaits: boolean; leftUnshown: boolean }
        | undefined
      // the loop is parked in the view, not in a protocol step: the ticker may seal a heartbeat meanwhile
      const whileViewWaits = (w: NonNullable<typeof viewWait>) => {
        if (over || result !== undefined || elapsedMs() - w.since < heartbeatMs) return
        if (w.early.length > 0) {
          sendNow(w.early)
          w.early = []
        } else if (!w.lateWaits && st.leaving === "no") {
          const frames = session.heartbeat!().frames
          for (const f of frames) unsent += f.length + 4
          sendNow(frames)
        }
      }
      /**
       * The view can show nothing more (its terminal hung up), and holds the loop with a round it will never
       * finish showing (its write never completes, so that no receipt vouches for it): the goodbye goes now,
       * after the round's `early` frames, carrying only the receipts owed from rounds shown before. Its `late`
       * ones are never sent. Without this the chat waited on the view until the CLI gave up, and the peer read
       * a lost connection.
       */
      const leaveUnshown = (w: NonNullable<typeof viewWait>) => {
        if (over || result !== undefined || w.leftUnshown || st.leaving === "goodbye") return
        w.leftUnshown = true
        st.leaving = "goodbye"
        const goodbye = session.leave("bye", round.owedAtStart).frames
        for (const f of goodbye) unsent += f.length + 4
        sendNow(w.early.length === 0 ? goodbye : [...w.early, ...goodbye])
        w.early = []
      }
      leaveWhileViewWaits = () => {
        if (viewWait !== undefined) leaveUnshown(viewWait)
      }
      const showThenSend = (events: ReadonlyArray<ChatEvent>, early: ReadonlyArray<Uint8Array>, late: ReadonlyArray<Uint8Array>) =>
        Effect.suspend(() => {
          const w = { since: elapsedMs(), early, lateWaits: late.length > 0, leftUnshown: false }
          viewWait = w
          // asked for while this round was being handled: its view will not show it either
          if (viewGone) leaveUnshown(w)
          return Effect.zipRight(
            options.emit(events),
            Effect.suspend(() => {
              viewWait = undefined
              // the goodbye is out: the loop ends the chat once a round seals nothing more (sessions that
              // acknowledge are settled at once)
              if (w.leftUnshown) return Effect.void
              const frames = w.early.length === 0 ? late : late.length === 0 ? w.early : [...w.early, ...late]
              return frames.length > 0 ? send(frames) : Effect.void
            })
          )
        })

      if (heartbeatMs > 0 && session.heartbeat)
        yield* Effect.forkScoped(
          Effect.forever(
            Effect.zipRight(
              Effect.sleep(heartbeatMs),
              Effect.suspend(() => {
                if (viewWait === undefined) return inputs.offer({ _tag: "Timer", what: "heartbeat" })
                whileViewWaits(viewWait)
                return Effect.void
              })
            )
          ).pipe(endsInput)
        )

      // a write is done: its bytes no longer count as unsent, and the session may reuse its frames' memory
      const written = (w: Extract<Input, { _tag: "Written" }>) => {
        unsent -= w.bytes
        session.recycle?.(w.frames)
      }
      // whether local texts may be encrypted, with `pending` bytes of them already counted this round: the one
      // statement of the send limits, so waiting for input and sending what waits cannot disagree (a loop
      // that takes inputs without waiting while it cannot send would spin)
      const roomFor = (pending: number) => unsent + pending <= SEND_HIGH_WATER && undelivered.span < MAX_UNACKNOWLEDGED
      const take = (wait: boolean) =>
        Effect.map(wait ? Effect.map(inputs.takeAll, ([messages]) => messages) : inputs.clear, (messages) => {
          const all = Chunk.toReadonlyArray(messages)
          if (all.length <= BATCH) return all
          held = all.slice(BATCH)
          return all.slice(0, BATCH)
        })
      // inputs of the round in which the chat ended that it did not get to
      let unhandled: ReadonlyArray<Input> = []

      // The round being handled. One object for every round, its arrays replaced once handed over (the view
      // and the writer keep them), so nothing of an earlier round stays alive while the loop waits; and the
      // helpers below are made once rather than once a round, which also keeps the loop itself small for the
      // optimising compiler (61-65 ms to compile with the helpers made inside it, 22-28 ms now: --trace-opt).
      const round = {
        frames: [] as Array<Uint8Array>,
        events: [] as Array<ChatEvent>,
        /** one time stamp for the whole round: the events of a round happen within microseconds */
        at: "",
        /**
         * frames from this index on acknowledge what the round received (receipts, a seed key reply, a goodbye
         * carrying receipts): they are sent only once the view has shown the round's messages
         */
        ackFrom: undefined as number | undefined,
        /** sends handled (encrypted, or refused after the goodbye): room for as many new ones, and their texts */
        freed: 0,
        freedUnits: 0,
        framesHandled: 0,
        sendBytes: 0,
        /** texts of this round not yet encrypted: sealed together (sendMany) before any other frame */
        outgoing: [] as Array<{ readonly id: string; readonly text: string }>,
        outgoingBytes: 0,
        /** the peer's heartbeat asked for a sign of life */
        asked: false,
        /** timers to start once the round's inputs are handled */
        timers: [] as Array<Effect.Effect<void>>,
        /** acknowledgements owed when the round began: for rounds the view has shown */
        owedAtStart: 0
      }
      // the texts of one frame share their sender's time stamp: formatted once, not once per text
      let sentMs = NaN
      let sentIso = ""
      const sentAt = (ms: number) => (ms === sentMs ? sentIso : ((sentMs = ms), (sentIso = new Date(ms).toISOString())))
      const apply = (step: Step) => {
        for (const f of step.frames) {
          round.frames.push(f)
          // counted at once, so one round of sends cannot overshoot the high-water mark
          unsent += f.length + 4
        }
        const at = round.at
        for (const e of step.events) {
          switch (e._tag) {
            case "Message":
              // built in place rather than through event(): this runs once per message
              round.events.push(
                e.sentAt !== undefined
                  ? { _tag: "message", id: e.id, text: e.text, sentAt: sentAt(e.sentAt), at }
                  : { _tag: "message", id: e.id, text: e.text, at }
              )
              break
            case "Delivered":
              for (const id of e.ids)
                if (undelivered.acknowledge(id)) {
                  acknowledged++
                  round.events.push({ _tag: "delivered", id, at })
                }
              break
            case "Unsupported":
              round.events.push(event({ _tag: "unsupported", kind: e.kind }, at))
              break
            case "PeerLeft":
              round.events.push(event({ _tag: "peer-left", reason: e.reason }, at))
              finish({ _tag: "PeerLeft", reason: e.reason })
              break
            case "Asked":
              round.asked = true
              break
          }
        }
      }
      const applyAck = (step: Step) => {
        if (step.frames.length > 0) round.ackFrom ??= round.frames.length
        apply(step)
      }
      const roomToSend = () => roomFor(round.outgoingBytes) && round.sendBytes + round.outgoingBytes < ROUND_SEND_BYTES
      const sendOutgoing = () => {
        if (round.outgoing.length === 0) return
        const before = unsent
        apply(session.sendMany!(round.outgoing))
        round.sendBytes += unsent - before
        round.outgoing.length = 0
        round.outgoingBytes = 0
      }
      // the input itself goes on to the session: no copy of it per message
      // a send handled (encrypted, or refused after the goodbye): its room is given back once the round is over
      const free = (text: string) => {
        round.freed++
        round.freedUnits += text.length
      }
      const transmit = (send: { readonly id: string; readonly text: string }) => {
        const { id, text } = send
        free(text)
        if (session.sendMany) {
          round.outgoing.push(send)
          // an estimate until sealed: the text plus a frame's header, tag and padding
          round.outgoingBytes += text.length + FRAME_OVERHEAD
        } else {
          const before = unsent
          apply(session.send(id, text))
          round.sendBytes += unsent - before
        }
        undelivered.add(id)
      }
      const after = (ms: number, what: Extract<Input, { _tag: "Timer" }>["what"]) =>
        round.timers.push(Effect.zipRight(Effect.sleep(ms), inputs.offer({ _tag: "Timer", what })))
      const sayGoodbye = () => {
        st.leaving = "goodbye"
        sendOutgoing()
        applyAck(session.leave("bye"))
        after(SETTLE_MS, "settle")
      }
      /** Handles a round's inputs, up to the one that ends the chat; returns how many it handled. */
      const handle = (batch: ReadonlyArray<Input>): number => {
        let handled = 0
        for (const input of batch) {
          if (result !== undefined) break
          if (handled > 0 && round.events.length >= ROUND_EVENTS) break
          handled++
          switch (input._tag) {
            case "Send":
              // announced as taken, in order, whether encrypted now or later: every id that a `delivered` or
              // the chat's list of undelivered ones names has had its `sent`, with its text
              round.events.push({ _tag: "sent", id: input.id, text: input.text, at: round.at })
              // after the goodbye nothing more is encrypted; the id stays unacknowledged, so it is reported
              if (st.leaving === "goodbye") (undelivered.add(input.id), free(input.text))
              else if (!roomToSend() || deferred.length > 0) deferred.push(input)
              else transmit(input)
              break
            case "Frames": {
              framesWaiting--
              round.framesHandled++
              for (const f of input.frames) {
                roundBytes += f.length
                bytesWaiting -= f.length
              }
              lastHeard = elapsedMs()
              for (const bytes of input.frames) {
                if (result !== undefined) break
                const step = session.receive(bytes)
                if (step instanceof SessionError) finish({ _tag: "Failed", error: step })
                else {
                  applyAck(step)
                  if (step.fatal) finish({ _tag: "Failed", error: step.fatal })
                }
              }
              // sessions copy what they keep of a frame (texts become strings, keys are sliced)
              framed.recycle?.(input.frames)
              break
            }
            case "ReadEnd":
              if (st.leaving === "goodbye" && input.error._tag === "TransportError") finish({ _tag: "Left" })
              else finish({ _tag: "Failed", error: input.error })
              break
            case "Written":
              written(input)
              break
            case "Leave":
              // a leave without waiting cuts short the wait of one before it
              if (st.leaving === "draining" && input.drainMs <= 0) sayGoodbye()
              if (st.leaving !== "no") break
              if (undelivered.size > 0 || deferred.length > 0) {
                st.leaving = "draining"
                drain = { ms: input.drainMs, extend: input.extendOnReceipt, acknowledgedAtArm: acknowledged }
                after(input.drainMs, "drain")
              } else sayGoodbye()
              break
            case "Timer":
              if (input.what === "drain" && st.leaving === "draining") {
                // receipts still coming: the link is slow, not gone (a file piped over 1 Mbit/s left 40 % of its
                // lines undelivered after a fixed 10 s, and the peer read a lost connection)
                if (drain?.extend === true && acknowledged > drain.acknowledgedAtArm) {
                  drain.acknowledgedAtArm = acknowledged
                  after(drain.ms, "drain")
                } else sayGoodbye()
              }
              else if (input.what === "settle" && st.leaving === "goodbye") finish({ _tag: "Left" })
              else if (input.what === "receipts") {
                receiptsScheduled = false
                receiptsDue = true
              }
              else if (input.what === "heartbeat" && st.leaving === "no") {
                const now = elapsedMs()
                // A beat long after the last: this process did not run meanwhile (Ctrl-Z, a debugger, a machine
                // asleep), and what the peer sent since may still wait unread in the socket. Judged at the next
                // beat, after a heartbeat of ours has asked the peer for a sign of life: judged now, a stop longer
                // than the limit ended chats whose peer had been there all along (4 runs of a test in 25, measured).
                const woke = now - lastBeat > 2 * heartbeatMs
                lastBeat = now
                if (readHeld) lastHeard = now
                if (!woke && framesWaiting === 0 && now - lastHeard > 3 * heartbeatMs)
                  finish({
                    _tag: "Failed",
                    error: new TransportError({ reason: "Timeout", detail: `nothing heard from the peer for ${seconds(now - lastHeard)}` })
                  })
                else if (now - lastSent >= heartbeatMs) {
                  sendOutgoing()
                  apply(session.heartbeat!())
                }
              }
              break
          }
        }
        return handled
      }

      while (result === undefined) {
        // with sends waiting and room to send them, look at new inputs without waiting for one
        const batch =
          held.length > 0
            ? held.splice(0, BATCH)
            : deferred.length > 0 && roomFor(0) && st.leaving !== "goodbye"
              ? yield* take(false)
              : yield* take(true)
        inHand = batch
        round.owedAtStart = session.pendingFlush?.() ?? 0
        round.at = new Date().toISOString()
        round.ackFrom = undefined
        round.freed = 0
        round.freedUnits = 0
        round.framesHandled = 0
        round.sendBytes = 0
        roundBytes = 0
        const handled = handle(batch)
        if (result !== undefined) unhandled = batch.slice(handled)
        // cut short at ROUND_EVENTS: the rest comes first in the next round
        else if (handled < batch.length) held = [...batch.slice(handled), ...held]
        // each send of the batch is now sent, deferred or unhandled: not kept while the loop waits for input
        inHand = []
        // not once the chat has ended: its list of undelivered ones is made then, and a text encrypted after it
        // (a round that took a finished write, making room, and the connection's end) was in neither list
        while (result === undefined && deferred.length > 0 && roomToSend() && st.leaving !== "goodbye") transmit(deferred.shift()!)
        sendOutgoing()
        // the peer's heartbeat answered, whatever our own interval (heartbeats off included), unless the round
        // sends something anyway: any frame tells it we are there. The peer's interval is its own: without
        // answers, a side with a shorter one than its peer's took every few seconds of quiet for a lost connection
        if (round.asked) {
          round.asked = false
          if (round.frames.length === 0 && result === undefined && st.leaving !== "goodbye" && session.heartbeat)
            apply(session.heartbeat(true))
        }
        if (round.freed > 0) {
          queuedSends -= round.freed
          queuedUnits -= round.freedUnits
          sendRoom.unsafeOpen()
        }
        // and once our sends wait for receipts, the gate may let the reader go further
        if (round.framesHandled > 0 || (readHeld && receiptsWait())) readRoom.unsafeOpen()
        if (st.leaving === "draining" && undelivered.size === 0 && deferred.length === 0) sayGoodbye()
        if (round.timers.length > 0) {
          for (const timer of round.timers) yield* Effect.forkScoped(timer)
          round.timers = []
        }
        // what the view and the writer are handed is never written to again
        const sealed = round.frames
        const events = round.events
        const ackFrom = round.ackFrom
        round.frames = []
        round.events = []
        // the plain path where nothing can be done while the view waits: no heartbeats and no receipts (seed)
        if (events.length > 0 && ((heartbeatMs > 0 && session.heartbeat) || session.flush))
          yield* showThenSend(
            events,
            ackFrom === undefined ? sealed : sealed.slice(0, ackFrom),
            ackFrom === undefined ? [] : sealed.slice(ackFrom)
          )
        else {
          if (events.length > 0) yield* options.emit(events)
          if (sealed.length > 0) yield* send(sealed)
        }
        let receipts: ReadonlyArray<Uint8Array> = []
        if (session.flush && result === undefined) {
          const owed = session.pendingFlush ? session.pendingFlush() : 1
          // a full batch, a ride along with what this round sent, or their short wait is over
          if (owed >= RECEIPT_BATCH || (owed > 0 && (sealed.length > 0 || receiptsDue))) {
            receiptsDue = false
            apply(session.flush())
            receipts = round.frames
            round.frames = []
            if (receipts.length > 0) yield* send(receipts)
          } else if (owed > 0 && !receiptsScheduled) {
            receiptsScheduled = true
            yield* Effect.forkScoped(
              Effect.zipRight(Effect.sleep(RECEIPT_DELAY_MS), inputs.offer({ _tag: "Timer", what: "receipts" }))
            )
          }
        }
        if (st.leaving === "goodbye" && result === undefined && session.settled() && sealed.length + receipts.length === 0)
          finish({ _tag: "Left" })
        // only after a heavy round: a light one (a chat, a ping-pong) would pay an event-loop trip for nothing
        // (ping-pong p99 2 → 6 ms, measured), and the loop lets I/O run whenever it waits for input anyway
        if (roundBytes >= YIELD_AFTER_BYTES) yield* yieldToIo
        // stop reading while a large backlog waits to be written: the peer is not reading what we send
        while (result === undefined && unsent > HARD_HIGH_WATER) {
          const [waiting] = yield* inputs.takeAll
          for (const w of waiting) {
            if (w._tag === "Written") written(w)
            else if (w._tag === "ReadEnd") finish({ _tag: "Failed", error: w.error })
            else held.push(w)
          }
        }
      }
      // taken but never encrypted: not acknowledged either, so reported with the rest (and those never taken
      // with the chat's end)
      neverTaken = [...unhandled, ...held].flatMap((i) => (i._tag === "Send" ? [i] : []))
      return result === undefined ? result : { ...result, undelivered: [...result.undelivered, ...deferred.map((d) => d.id)] }
    })

    const finishAll = (atEnd: ChatOutcome) =>
      Effect.gen(function* () {
        over = true
        // sends already queued are reported, and those waiting for room wake up to a refusal (see `accept`)
        const queued = yield* inputs.clear
        const untaken = [...neverTaken, ...Chunk.toArray(queued).flatMap((i) => (i._tag === "Send" ? [i] : []))]
        const o: ChatOutcome = {
          ...atEnd,
          // oldest first (our ids count up): texts sent after a goodbye may be listed before older ones held back
          undelivered: [...atEnd.undelivered, ...untaken.map((i) => i.id)].sort((a, b) => Number(a) - Number(b))
        }
        sendRoom.unsafeOpen()
        // let the writer flush what the last round produced (goodbye, key reply), bounded in time, for as long as
        // it can write: on a connection already lost it has stopped, and waiting for it delayed "connection
        // lost" by the whole bound whenever frames were still queued (measured: 2 s after a peer reset)
        yield* Effect.gen(function* () {
          while ((yield* Queue.size(outbound)) > 0 && writer.unsafePoll() === null) yield* Effect.sleep(5)
        }).pipe(Effect.timeout(2_000), Effect.ignore)
        yield* Fiber.interrupt(reader)
        yield* framed.conn.close.pipe(Effect.timeout(3_000), Effect.ignore)
        yield* Fiber.interrupt(writer)
        const reason =
          o._tag === "Left" ? "left" : o._tag === "PeerLeft" ? "peer left" : "connection lost"
        const closing: Array<ChatEvent> = untaken.map((i) => event({ _tag: "sent", id: i.id, text: i.text }))
        if (o._tag === "Failed") {
          closing.push(event({ _tag: "error", code: errorCode(o.error), message: describeError(o.error) }))
        }
        closing.push(event({ _tag: "disconnected", reason, undelivered: [...o.undelivered] }))
        // a view that throws (a bug) must not keep the outcome from being known
        yield* Effect.catchAllDefect(options.emit(closing), () => Effect.void)
        yield* Deferred.succeed(outcome, o)
      })

    // a defect in the loop (a bug: an exception nobody expected) still ends the chat properly, with one
    // sentence and the messages it cannot vouch for, instead of leaving the outcome unresolved
    const afterDefect = (defect: unknown): ChatOutcome => {
      const sends = [...deferred, ...held, ...inHand].flatMap((i) => ("text" in i ? [i.id] : []))
      return {
        _tag: "Failed",
        error: internalError(defect),
        undelivered: [...new Set([...undelivered.ids(), ...sends])]
      }
    }
    const loopFiber = yield* Effect.forkScoped(
      Effect.flatMap(
        Effect.catchAllDefect(loop, (defect) => Effect.succeed(afterDefect(defect))),
        (o) => finishAll(o ?? { _tag: "Left", undelivered: [] })
      ).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            over = true
            sendRoom.unsafeOpen()
          })
        )
      )
    )

    // A leave asked for, then the end of the chat's scope (the natural `yield* session.leave()` as a program's
    // last step): the scope interrupted the loop before its goodbye was written, and the peer read a lost
    // connection. The scope's end now waits for the chat to end as asked, bounded by the drain asked for; not
    // when the scope is interrupted (the CLI's second Ctrl-C: stop at once).
    let leaveAsked: number | undefined
    yield* Effect.addFinalizer((exit) =>
      Effect.suspend(() =>
        leaveAsked === undefined || Exit.isInterrupted(exit)
          ? Effect.void
          : leaveAsked === Infinity
            ? Deferred.await(outcome)
            : Deferred.await(outcome).pipe(Effect.timeout(leaveAsked + LEAVE_GRACE_MS), Effect.ignore)
      )
    )

    const hasRoom = () => queuedSends < SEND_SLOTS && queuedUnits < SEND_QUEUE_UNITS
    const offerSend = (text: string): string => {
      queuedSends++
      queuedUnits += text.length
      const id = String(nextId++)
      inputs.unsafeOffer({ _tag: "Send", id, text })
      return id
    }
    // checked again after every wait for room, and offered in the same step: a send accepted once the chat has
    // ended would be neither sent nor reported
    const accept = (text: string): Effect.Effect<string, SendRefused> =>
      Effect.fiberIdWith((self) =>
        // a send from the chat's own view (`emit`, and so a library's onEvents, runs in the loop's fiber): room
        // is made by the loop, which waits for the view, so waiting here would wait for good (a bot answering
        // in onEvents stopped at its 1,025th answer of a round). Taken at once instead: what the view sends
        // is bounded by what it is shown.
        !over && Equal.equals(self, loopFiber.id())
          ? Effect.succeed(offerSend(text))
          : withRoom(sendRoom, () => over || hasRoom(), () => (over ? Effect.fail(ENDED) : Effect.succeed(offerSend(text))))
      )

    const handle: ChatHandle = {
      info: session.info,
      // a plain effect chain rather than a generator: this runs once per message
      send: (text) =>
        Effect.suspend(() => {
          if (over) return Effect.fail(ENDED)
          const refusal = textRefusal(text)
          if (refusal !== undefined)
            return Effect.fail<SendRefused>({ _tag: "SendRefused", reason: text.length === 0 ? "Empty" : "TooLong", message: refusal })
          // room at once is the usual case: offered in this step, without the wait's
          return hasRoom() ? Effect.succeed(offerSend(text)) : accept(text)
        }),
      leave: (opts) =>
        Effect.suspend(() => {
          const drainMs = opts?.drainMs ?? 0
          const extendOnReceipt = opts?.extendOnReceipt === true && drainMs > 0
          // an extending drain has no bound of its own: it ends once drainMs pass without a receipt
          const bound = extendOnReceipt ? Infinity : drainMs
          leaveAsked = Math.min(leaveAsked ?? bound, bound)
          if (opts?.viewGone === true && drainMs <= 0) {
            viewGone = true
            leaveWhileViewWaits()
          }
          return Effect.asVoid(inputs.offer({ _tag: "Leave", drainMs, extendOnReceipt }))
        }),
      outcome: Deferred.await(outcome)
    }
    return handle
  })
