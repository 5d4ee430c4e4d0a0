import { Cause, Clock, Data, Deferred, Duration, Effect, Either, ExecutionStrategy, Exit, Fiber, FiberSet, Random, Schedule, Scope } from "effect"
import { concatBytes } from "../domain/bytes.js"
import { compareEndpoints, type Endpoint, endpointProblem, formatEndpoint, formatEndpointVia, isWildcard } from "../domain/address.js"
import { durationProblem } from "../domain/duration.js"
import { ConnectError, describeError, internalError, type ListenError, TransportError } from "../domain/errors.js"
import { type ChatEvent, event } from "../domain/events.js"
import { seconds } from "../domain/text.js"
import type { Role } from "../domain/session.js"
import { type Conn, type Listener, Transport, type TurnedAway } from "./Transport.js"

/**
 * Modes 0/1/2 as one typed pipeline over Transport: yields the connection on which a handshake succeeded.
 *
 * Auto mode (0) rule, which makes start order irrelevant, simultaneous starts included:
 * both sides listen at once and keep trying to connect. The side whose listen endpoint sorts lower
 * (port, then address: a target's name is resolved first) prefers its own outgoing connection; the other prefers the incoming one.
 * - lower side: an outgoing connection wins; on an incoming one it first tries one immediate connect to the
 *   target, and only if that fails does it serve the incoming connection.
 * - higher side: an incoming connection wins; its outgoing connection counts only once the first byte arrives
 *   (the listener always speaks first), so a connection the lower side dropped is simply retried.
 * Either way both sides end with the same single connection.
 */
export type Mode = "auto" | "client" | "server"

export interface EstablishOptions<A, E> {
  readonly mode: Mode
  /** Where to listen (auto, server). */
  readonly local: Endpoint
  /** Whom to reach (auto, client). */
  readonly target?: Endpoint
  /** How long client mode keeps retrying an unreachable target. */
  readonly connectFor: Duration.DurationInput
  /** Deadline for the handshake on one connection; a silent or slow peer is dropped after it. */
  readonly handshakeTimeout: Duration.DurationInput
  readonly handshake: (conn: Conn, role: Role) => Effect.Effect<A, E>
  readonly emit: (e: ChatEvent) => Effect.Effect<void>
  /** The sentence for a turned-away connection attempt (listening side: reported, then it waits on). */
  readonly describe: (e: E | TransportError) => string
  /**
   * Whether a turned-away attempt may be a spare connection of the real peer, closed unused (in a
   * simultaneous start of two auto-mode sides one of them drops its extra connection): such an attempt is
   * reported only if no handshake succeeds within SPARE_GRACE. It was reported at once, as a failed
   * handshake with a hint about --protocol seed, just before the chat started.
   */
  readonly spare?: (e: E | TransportError) => boolean
  /**
   * Whether a connection's first bytes may begin the protocol; the peer is said `connected` only if so. Default:
   * any bytes. Since a v2 connector speaks first, a service that answers anything (a web server at an HTTPS port)
   * speaks too, and was said connected just before it was said to be no p2pchat.
   */
  readonly mayBegin?: (first: Uint8Array) => boolean
}

export interface Established<A> {
  readonly result: A
  readonly conn: Conn
  readonly role: Role
}

/** Auto mode's signal to try again from listening: our connection was dropped before the peer said a word. */
class StartOver extends Data.TaggedError("StartOver") {}

/** Runs `effect` in a child scope that is closed at once unless the effect succeeds (then it lives on). */
const inChildScope = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, Scope.Scope> | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (outer) =>
    Effect.flatMap(Scope.fork(outer, ExecutionStrategy.sequential), (child) =>
      Scope.extend(effect, child).pipe(
        Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(child, exit)))
      )
    )
  )

const RETRY_SPACING = Duration.millis(400)

/**
 * Milliseconds on the clock that only goes forward (a wall clock set back would stretch the retries, set forward
 * cut them short).
 */
const elapsedMillis = Effect.map(Clock.currentTimeNanos, (ns) => Number(ns / 1_000_000n))

/**
 * Retries RETRY_SPACING apart, none begun after `deadline` (ms) and none waited for past it: the last comes at the
 * deadline. (`Schedule.upTo` let a wait begun just before its end run its whole length: `--wait 1` tried for 1.2 s.)
 */
const retriesUntil = (deadline: number) =>
  Schedule.spaced(RETRY_SPACING).pipe(
    Schedule.checkEffect(() => Effect.map(elapsedMillis, (now) => now < deadline)),
    Schedule.modifyDelayEffect((_, delay) =>
      Effect.map(elapsedMillis, (now) => Duration.min(delay, Duration.millis(Math.max(0, deadline - now))))
    )
  )
const SPARE_GRACE = Duration.seconds(2)
/** Attempts in a row that fail the same way (other than "nobody there yet") before auto mode says so. */
const LASTING_FAILURES = 3
/**
 * How long auto mode's connections are refused, with nothing else in between, before it says so: long enough for
 * a person to start the peer's side after ours, short enough that a wrong port or address is noticed.
 */
const LASTING_REFUSAL_MS = 20_000
/** Handshakes the listener runs at once; more connections wait in the accept queue (and beyond it are dropped). */
const MAX_PENDING_HANDSHAKES = 8
/** Connections that spoke no TLS said in one run; more are passed over in silence (a flood must not fill the screen). */
const MAX_TURNED_AWAY_SAID = 10

/**
 * `conn`, whose first read of the peer's bytes runs `first` (once, and only if `mayBegin` accepts them); from
 * then on its reads are the connection's own again, so that nothing is added to every read of the chat.
 */
const onFirstBytes = (conn: Conn, first: Effect.Effect<void>, mayBegin?: (bytes: Uint8Array) => boolean): Conn => {
  const watched: { -readonly [K in keyof Conn]: Conn[K] } = { ...conn }
  let seen = false
  const once = (bytes: Uint8Array | undefined) =>
    Effect.suspend(() => {
      if (seen) return Effect.void
      seen = true
      watched.read = conn.read
      if (conn.readAtLeast) watched.readAtLeast = conn.readAtLeast
      return bytes === undefined || mayBegin === undefined || mayBegin(bytes) ? first : Effect.void
    })
  watched.read = Effect.tap(conn.read, once)
  const readAtLeast = conn.readAtLeast
  // the first few bytes, whichever chunks they came in (enough for a frame's length)
  const head = (chunks: ReadonlyArray<Uint8Array>) => (chunks.length === 1 ? chunks[0] : concatBytes(...chunks.slice(0, 4)))
  if (readAtLeast) watched.readAtLeast = (bytes) => Effect.tap(readAtLeast(bytes), (chunks) => once(head(chunks)))
  return watched
}

/**
 * `Effect.race`, but a defect on either side ends the race at once, the other side interrupted. After a failure
 * `race` waits for the other side, and in auto mode that is a listener waiting for a peer: a bug in connecting
 * (node's RangeError for a port out of range, say) left the chat waiting, in silence, for good.
 */
const raceUnlessDefect = <A, E, R, A2, E2, R2>(
  left: Effect.Effect<A, E, R>,
  right: Effect.Effect<A2, E2, R2>
): Effect.Effect<A | A2, E | E2, R | R2> => {
  const settle = <X, EX, Y, EY>(
    exit: Exit.Exit<X, EX>,
    other: Fiber.Fiber<Y, EY>,
    leftFirst: boolean
  ): Effect.Effect<X | Y, EX | EY> =>
    Exit.isSuccess(exit) || Cause.isDie(exit.cause)
      ? Effect.zipRight(Fiber.interrupt(other), exit)
      : // as race: the other side may still win; both failed, both causes
        Effect.mapErrorCause(Fiber.join(other), (cause) =>
          leftFirst ? Cause.parallel(exit.cause, cause) : Cause.parallel(cause, exit.cause)
        )
  return Effect.raceWith(left, right, {
    onSelfDone: (exit, other) => settle(exit, other, true),
    onOtherDone: (exit, other) => settle(exit, other, false)
  })
}

export const establish = <A, E>(
  options: EstablishOptions<A, E>
): Effect.Effect<Established<A>, E | ConnectError | ListenError | TransportError, Transport | Scope.Scope> =>
  Effect.gen(function* () {
    // a caller's mistake, not a condition of the network: a defect that says what is missing (it was a
    // TypeError from deep inside, "Cannot read properties of undefined")
    if (options.mode !== "server" && options.target === undefined)
      return yield* Effect.dieMessage(`mode "${options.mode}" needs a target: the peer's { host, port }`)
    // node throws on a port out of range: in auto mode, from inside the race with the listener, which went on
    // waiting for a peer, in silence, for good
    const problem =
      (options.mode !== "client" ? endpointProblem("listen", options.local, true) : undefined) ??
      (options.target !== undefined && options.mode !== "server" ? endpointProblem("target", options.target, false) : undefined) ??
      // a connection attempt may retry for good, but a handshake must end: with none, one silent peer holds a client
      durationProblem("connectFor", options.connectFor, { zero: true, infinite: true }) ??
      durationProblem("handshakeTimeout", options.handshakeTimeout, { zero: false, infinite: false })
    if (problem !== undefined) return yield* Effect.dieMessage(problem)
    const transport = yield* Transport
    const peerOf = (c: Conn) => formatEndpoint(c.remote)

    const handshakeOn = (conn: Conn, role: Role) =>
      Effect.gen(function* () {
        const connected = Effect.suspend(() => options.emit(event({ _tag: "connected", role, peer: peerOf(conn) })))
        // Each side says `connected` once the other has spoken (the listener speaks first): a connection closed
        // before that is no chat's. The spare connection of a simultaneous start in auto mode was a second
        // "Connected from ..." just before the chat began; a connection of ours that the peer dropped unheard (auto
        // mode then starts over) a "Connected to ..." twice; a TLS service that is no p2pchat "Connected to ..."
        // before it was said to be none.
        const result = yield* options
          .handshake(onFirstBytes(conn, connected, options.mayBegin), role)
          .pipe(
            Effect.timeoutFail({
              duration: options.handshakeTimeout,
              onTimeout: () =>
                new TransportError({
                  reason: "Timeout",
                  // over a link of a second or two a round trip the peer may be there and slow: TLS and the handshake
                  // take three, so the sentence says how to give it more time
                  detail: "the peer did not complete the handshake in time",
                  handshakeLimit: seconds(Duration.toMillis(options.handshakeTimeout))
                })
            })
          )
        return { result, conn, role }
      })

    // the event is made when the effect runs: each retry is an attempt of its own, at its own time
    const connectTarget = (timeoutMs: number) =>
      Effect.zipRight(
        Effect.suspend(() => options.emit(event({ _tag: "connecting", address: options.target!.host, port: options.target!.port }))),
        transport.connect(options.target!, { connectTimeoutMs: timeoutMs })
      )

    /**
     * Serves accepted connections until one completes the handshake. Handshakes run side by side (at most
     * MAX_PENDING_HANDSHAKES), so a silent or dripping client cannot hold the real peer up; the first to finish
     * wins, the others are closed. Failures are reported as `rejected`, never fatal.
     */
    const serve = (listener: Listener, accepted?: Conn): Effect.Effect<Established<A>, TransportError, Scope.Scope> =>
      Effect.gen(function* () {
        const outer = yield* Effect.scope
        const winner = yield* Deferred.make<Established<A>>()
        const permits = yield* Effect.makeSemaphore(MAX_PENDING_HANDSHAKES)
        const attempts = yield* FiberSet.make()
        // only the handshake itself is interruptible: a winner is never cut between succeeding and being chosen
        const attempt = (conn: Conn, child: Scope.CloseableScope) =>
          Effect.uninterruptibleMask((restore) =>
            restore(handshakeOn(conn, "listener")).pipe(
              // one done in the same instant as the winner is closed as the others are (it was kept, open and
              // unused, for as long as the chat lasted)
              Effect.flatMap((r) =>
                Effect.flatMap(Deferred.succeed(winner, r), (chosen) =>
                  chosen ? Effect.void : Effect.zipRight(conn.close, Scope.close(child, Exit.void))
                )
              ),
              Effect.tapError((e) => {
                const report = options.emit(event({ _tag: "rejected", peer: peerOf(conn), reason: options.describe(e), role: "listener" }))
                // a winner clears the attempts, this wait among them (interruptible: forked here, it would inherit
                // the attempt's mask, and the winner would wait it out)
                return options.spare?.(e) ? FiberSet.run(attempts, Effect.interruptible(Effect.delay(report, SPARE_GRACE))) : report
              }),
              Effect.onExit((exit) =>
                Exit.isSuccess(exit) ? Effect.void : Effect.zipRight(conn.close, Scope.close(child, Exit.void))
              ),
              // a bug of ours in one connection's handshake is said as its rejection, and the listener waits on:
              // its fiber's defect used to vanish without a word (the peer read a closed connection)
              Effect.catchAllDefect((defect) =>
                options.emit(
                  event({
                    _tag: "rejected",
                    peer: peerOf(conn),
                    reason: `p2pchat hit an internal error in its handshake (${internalError(defect).detail}); please report it`,
                    role: "listener"
                  })
                )
              ),
              Effect.ignore,
              Effect.ensuring(permits.release(1))
            )
          )
        const acceptOne = (given?: Conn) =>
          Effect.gen(function* () {
            yield* permits.take(1)
            const child = yield* Scope.fork(outer, ExecutionStrategy.sequential)
            const conn = given ?? (yield* Scope.extend(listener.accept, child).pipe(Effect.onError(() => Scope.close(child, Exit.void))))
            yield* FiberSet.run(attempts, attempt(conn, child))
          })
        const acceptLoop = Effect.zipRight(accepted ? acceptOne(accepted) : Effect.void, Effect.forever(acceptOne()))
        const result = yield* Effect.raceFirst(Deferred.await(winner), acceptLoop)
        yield* listener.close
        yield* FiberSet.clear(attempts)
        return result
      })

    // someone pointing a browser or a plain-text tool at the port is told why nothing happens, as long as it listens
    let turnedAwaySaid = 0
    const sayTurnedAway = (next: Effect.Effect<TurnedAway>) =>
      Effect.flatMap(next, ({ error, remote }) =>
        options.emit(event({ _tag: "rejected", peer: formatEndpoint(remote), reason: options.describe(error), role: "listener" }))
      ).pipe(Effect.repeat({ while: () => ++turnedAwaySaid < MAX_TURNED_AWAY_SAID }))

    const startListening = (on: Endpoint, say = true) =>
      Effect.gen(function* () {
        const listener = yield* transport.listen(on)
        if (say) yield* options.emit(event({ _tag: "listening", address: listener.address.host, port: listener.address.port }))
        if (listener.turnedAway && turnedAwaySaid < MAX_TURNED_AWAY_SAID) yield* Effect.forkScoped(sayTurnedAway(listener.turnedAway))
        return listener
      })

    switch (options.mode) {
      case "server":
        return yield* serve(yield* startListening(options.local))

      case "client": {
        // only "nobody there yet" is worth retrying (a forwarder, such as ssh -L, takes the connection and closes
        // it while its far end is not listening); a bad name or TLS failure will not heal
        const notThereYet = (e: ConnectError) =>
          e.reason === "Refused" || e.reason === "Timeout" || e.reason === "Unreachable" || e.reason === "Closed"
        const started = yield* elapsedMillis
        let attempts = 0
        const attempt = Effect.suspend(() => (attempts++, connectTarget(5_000)))
        const conn = yield* inChildScope(attempt).pipe(
          Effect.retry({ schedule: retriesUntil(started + Duration.toMillis(options.connectFor)), while: notThereYet }),
          // the last failure is said with how long the attempts went on (one attempt, or a time that would read
          // "0 s": as it was)
          Effect.catchAll((e) =>
            Effect.flatMap(elapsedMillis, (now) => {
              const ms = now - started
              if (!notThereYet(e) || attempts === 1 || ms < 50) return Effect.fail(e)
              const { addresses, detail, host, port, reason } = e
              return Effect.fail(new ConnectError({ host, port, reason, detail, ...(addresses === undefined ? {} : { addresses }), triedFor: seconds(ms) }))
            })
          )
        )
        return yield* handshakeOn(conn, "connector")
      }

      case "auto": {
        const target = options.target!
        const first = yield* startListening(options.local)
        // By address on both sides: each side knows itself by its address and the other by whatever it was given.
        // Both sides naming each other (bob.local, alice.local; both ports at 8000) both took themselves for the
        // lower side (digits sort before letters): two connectors, and a start at the same moment failed.
        const them = { host: (transport.resolve ? yield* transport.resolve(target.host) : undefined) ?? target.host, port: target.port }
        const ownHost = isWildcard(first.address.host) && transport.localAddressTo ? yield* transport.localAddressTo(them) : undefined
        const lower = compareEndpoints({ host: ownHost ?? first.address.host, port: first.address.port }, them) < 0
        const retryForever = Schedule.spaced(RETRY_SPACING).pipe(Schedule.jittered)
        // Auto mode retries for good (the peer may connect to us meanwhile), and so, in silence, past failures
        // that are not "nobody there yet" (a refused connection: the machine is there, p2pchat not yet): a name
        // that does not resolve, a web server where the peer should be, an address that nothing answers from (a
        // mistyped one, a firewall). Such a failure is said once it has come LASTING_FAILURES times in a row: a
        // reset in a simultaneous start (the peer closing its listener as its chat begins) comes once, and is
        // nobody's concern.
        // A target that takes the connection and then says nothing (an HTTPS server, any TLS service that waits
        // for its client) is said at once: silence for the whole handshake time is no accident of a start.
        let last: { reason: string; times: number } | undefined
        // Refused: the machine is there and p2pchat not yet, or at another port or address than the one we were
        // given (a typo; a peer listening on ::1 where "localhost" is 127.0.0.1 here). Said once it has lasted,
        // with the address a name stands for: a person saw "Connecting to ..." every 30 s and never why.
        let refused: { since: number; said: boolean } | undefined
        const sayRefused = (e: ConnectError) =>
          Effect.flatMap(elapsedMillis, (now) => {
            refused ??= { since: now, said: false }
            if (refused.said || now - refused.since < LASTING_REFUSAL_MS) return Effect.void
            refused.said = true
            // where the connections went, as the transport says (a name may have several), else as resolved here
            const at = formatEndpointVia(target, e.addresses ?? (them.host === target.host ? [] : [them.host]))
            const reason = `Nothing has listened at ${at} in ${seconds(now - refused.since)} of trying (connection refused): is your peer's p2pchat started, at that address and port?`
            return options.emit(event({ _tag: "rejected", peer: formatEndpoint(target), reason, role: "connector" }))
          })
        const sayLasting = (e: ConnectError) =>
          Effect.suspend(() => {
            if (e.reason === "Refused") return sayRefused(e)
            refused = undefined
            const reason = describeError(e)
            last = last?.reason === reason ? { reason, times: last.times + 1 } : { reason, times: 1 }
            return last.times === (e.reason === "Silent" ? 1 : LASTING_FAILURES)
              ? options.emit(event({ _tag: "rejected", peer: formatEndpoint(target), reason, role: "connector" }))
              : Effect.void
          })
        const silent = () =>
          new ConnectError({
            ...target,
            reason: "Silent",
            detail: `it took the connection but said nothing for ${seconds(Duration.toMillis(options.handshakeTimeout))}`
          })
        const closedUnheard = () => new ConnectError({ ...target, reason: "Closed", detail: "it closed the connection without a word" })
        const connectOnce = (timeoutMs: number) => Effect.tapError(connectTarget(timeoutMs), sayLasting)

        /** One try at the rule above, on `listener`: fails with StartOver when our connection was dropped unheard. */
        const round = (listen: Effect.Effect<Listener, ListenError, Scope.Scope>) =>
          Effect.gen(function* () {
            const listener = yield* listen
            let picked: { conn: Conn; role: Role; accepted: boolean }
            if (lower) {
              const outgoing = inChildScope(connectOnce(5_000)).pipe(Effect.retry(retryForever))
              const incoming = inChildScope(
                Effect.gen(function* () {
                  const inc = yield* listener.accept
                  // the peer is listening too (or it could not have reached us from auto mode): prefer our own direction
                  const out = yield* Effect.either(inChildScope(connectOnce(1_000)))
                  if (out._tag === "Right") {
                    yield* inc.close
                    return { conn: out.right, role: "connector" as const, accepted: false }
                  }
                  return { conn: inc, role: "listener" as const, accepted: true }
                })
              )
              picked = yield* raceUnlessDefect(
                Effect.map(outgoing, (conn) => ({ conn, role: "connector" as const, accepted: false })),
                incoming
              )
            } else {
              const outgoing = inChildScope(
                Effect.gen(function* () {
                  const out = yield* connectOnce(5_000)
                  // the lower side drops our connection when it prefers its own: count ours only once it speaks. It
                  // speaks at once when it keeps ours; waiting for good was a silent hang on a TLS service that
                  // waits for its client to speak, and one that closes at once was retried for good in silence.
                  const firstChunk = yield* out.read.pipe(
                    Effect.mapError(closedUnheard),
                    Effect.timeoutFail({ duration: options.handshakeTimeout, onTimeout: silent }),
                    Effect.tapError(sayLasting)
                  )
                  out.unread(firstChunk)
                  return out
                })
              ).pipe(Effect.retry(retryForever))
              picked = yield* raceUnlessDefect(
                Effect.map(outgoing, (conn) => ({ conn, role: "connector" as const, accepted: false })),
                Effect.map(inChildScope(listener.accept), (conn) => ({ conn, role: "listener" as const, accepted: true }))
              )
            }
            if (picked.role === "listener") return yield* serve(listener, picked.conn)
            yield* listener.close
            // Our connection, closed before the peer said a word, is no chat yet: both sides took themselves for
            // the lower one (addresses that differ on the way, as through NAT) and each kept its own, closing the
            // other's; it was the end of the run, for both sides at once. Start over: the rule then has the timing
            // to break the tie. A target that does it every time, or says nothing at all, is no p2pchat: said as
            // such and the end (here our listener is closed most of the time, so the peer could not get in).
            let heard = false
            return yield* handshakeOn(onFirstBytes(picked.conn, Effect.sync(() => void (heard = true))), "connector").pipe(
              Effect.catchAll((e): Effect.Effect<Established<A>, E | TransportError | ConnectError | StartOver> => {
                const transportReason = e instanceof TransportError ? e.reason : undefined
                if (heard) return Effect.fail(e)
                if (transportReason === "Timeout") return Effect.fail(silent())
                if (!(options.spare?.(e) === true || transportReason === "Eof" || transportReason === "Reset")) return Effect.fail(e)
                return ++startedOver < LASTING_FAILURES ? Effect.fail(new StartOver()) : Effect.fail(closedUnheard())
              })
            )
          })

        // Each round in a scope of its own, closed when it starts over, which it does LASTING_FAILURES - 1 times at
        // most (every other outcome ends the loop); again on the same port, also when 0 was asked for: it is where
        // the peer was told to find us.
        let startedOver = 0
        let listen: Effect.Effect<Listener, ListenError, Scope.Scope> = Effect.succeed(first)
        for (;;) {
          const outcome = yield* Effect.either(inChildScope(round(listen)))
          if (Either.isRight(outcome)) return outcome.right
          if (!(outcome.left instanceof StartOver)) return yield* Effect.fail(outcome.left)
          yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, Duration.toMillis(RETRY_SPACING))))
          listen = startListening({ host: options.local.host, port: first.address.port }, false)
        }
      }
    }
  })
