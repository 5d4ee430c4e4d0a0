import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Fiber, Layer, Stream } from "effect"
import { execFile, spawn } from "node:child_process"
import * as net from "node:net"
import * as tls from "node:tls"
import * as path from "node:path"
// imported by the package's own name, through package.json "exports", as a user would
import * as P2pchat from "p2pchat"
import { freePort } from "./support/cli.js"
import { until } from "./support/progress.js"

describe("p2pchat as a library", () => {
  it.scopedLive("a whole v2 session over the in-memory transport, through the public entry only", () =>
    Effect.gen(function* () {
      const network = yield* P2pchat.MemoryTransport.make
      const stack = Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer({ crypto: "noble" }))
      const listen = { host: "memory-bob", port: 1 }
      const bob = yield* Effect.fork(P2pchat.open({ mode: "server", listen }).pipe(Effect.provide(stack)))
      yield* Effect.sleep(5)
      const alice = yield* P2pchat.open({ mode: "client", target: listen }).pipe(Effect.provide(stack))
      const b = yield* Effect.flatten(bob.await)
      expect(alice.info.sas).toBe(b.info.sas)
      const id = yield* alice.send("hi bob")
      const first = yield* Stream.runHead(b.messages)
      expect(first._tag === "Some" && first.value.text).toBe("hi bob")
      const receipt = yield* Stream.runHead(Stream.filter(alice.events, (e) => e._tag === "delivered"))
      expect(receipt._tag === "Some" && receipt.value._tag === "delivered" && receipt.value.id).toBe(id)
      yield* alice.leave()
      expect((yield* b.outcome)._tag).toBe("PeerLeft")
      // every event is a valid ChatEvent and survives the JSON contract
      const events = yield* Stream.runCollect(b.events)
      for (const e of events) expect(P2pchat.fromJsonLine(P2pchat.toJsonLine(e))).toEqual(e)
    })
  )

  /** bob listens with `bobProtocol`, alice connects with `aliceProtocol`, over an in-memory network: both sessions. */
  const memoryPair = (bobProtocol: P2pchat.ProtocolOptions, aliceProtocol: P2pchat.ProtocolOptions = bobProtocol) =>
    Effect.gen(function* () {
      const network = yield* P2pchat.MemoryTransport.make
      const over = (options: P2pchat.ProtocolOptions) => Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer(options))
      const listen = { host: "memory-bob", port: 1 }
      const bob = yield* Effect.fork(P2pchat.open({ mode: "server", listen, heartbeatMs: 0 }).pipe(Effect.provide(over(bobProtocol))))
      yield* Effect.sleep(5)
      const alice = yield* P2pchat.open({ mode: "client", target: listen, heartbeatMs: 0 }).pipe(Effect.provide(over(aliceProtocol)))
      return { alice, bob: yield* Effect.flatten(bob.await) }
    })

  it.scopedLive('protocol "seed" speaks the original\'s protocol through the library: no safety code, messages both ways', () =>
    Effect.gen(function* () {
      const { alice, bob } = yield* memoryPair({ protocol: "seed" })
      for (const s of [alice, bob]) {
        expect(s.info.protocol).toBe("seed")
        expect(s.info.sas).toBeUndefined()
      }
      expect(alice.info.peerFingerprint).toBe(bob.info.localFingerprint)
      yield* alice.send("hello from alice")
      const atBob = yield* Stream.runHead(bob.messages)
      expect(atBob._tag === "Some" && atBob.value.text).toBe("hello from alice")
      yield* bob.send("and back")
      const atAlice = yield* Stream.runHead(alice.messages)
      expect(atAlice._tag === "Some" && atAlice.value.text).toBe("and back")
      yield* alice.leave()
      expect((yield* bob.outcome)._tag).toBe("PeerLeft")
    })
  )

  it.scopedLive("maxFrame bounds what a side accepts: a frame over it from a peer with the default ends the chat as too large", () =>
    Effect.gen(function* () {
      const { alice, bob } = yield* memoryPair({}, { maxFrame: 4096 })
      yield* bob.send("short")
      const first = yield* Stream.runHead(alice.messages)
      expect(first._tag === "Some" && first.value.text).toBe("short")
      yield* bob.send("x".repeat(10_000))
      const outcome = yield* alice.outcome.pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new Error("alice took the frame") }))
      expect(outcome._tag).toBe("Failed")
      if (outcome._tag === "Failed") expect(outcome.error).toMatchObject({ _tag: "FrameError", reason: "TooLarge", max: 4096 })
    })
  )

  it.effect("the crypto option picks the primitives it names: node:crypto by default, @noble on request", () =>
    Effect.gen(function* () {
      const picked = (which?: "node" | "noble") =>
        Effect.all([P2pchat.Cipher, P2pchat.KeySchedule, P2pchat.KeyAgreement]).pipe(Effect.provide(P2pchat.cryptoLayer(which)))
      const [cipher, kdf, ecdh] = yield* picked("noble")
      expect(cipher).toBe(P2pchat.NobleCipher.aead)
      expect(kdf).toBe(P2pchat.NobleKeySchedule.kdf)
      expect(ecdh).toBe(P2pchat.NobleKeyAgreement.ecdh)
      for (const which of [undefined, "node"] as const) {
        const [c, k, e] = yield* picked(which)
        expect(c).toBe(P2pchat.NodeCryptoCipher.aead)
        expect(k).toBe(P2pchat.NodeCryptoKeySchedule.kdf)
        expect(e).toBe(P2pchat.NodeCryptoKeyAgreement.ecdh)
      }
    })
  )

  it.live("the tls option's files are used, not a generated certificate: files that are not there fail the layer, naming one", () =>
    Effect.gen(function* () {
      const tls = { keyFile: "/nonexistent/p2pchat.key", certFile: "/nonexistent/p2pchat.crt" }
      const exit = yield* Effect.exit(
        Effect.scoped(P2pchat.open({ mode: "server", listen: { host: "127.0.0.1", port: 0 } }).pipe(Effect.provide(P2pchat.layer({ tls })))).pipe(
          // with a generated certificate instead, it listens and waits for a peer
          Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => new Error("it listened") })
        )
      )
      expect(exit._tag).toBe("Failure")
      if (exit._tag !== "Failure") return
      const error = Cause.squash(exit.cause) as P2pchat.ChatError
      expect(error._tag).toBe("CertificateError")
      expect(error.message).toContain("/nonexistent/p2pchat.")
    })
  )

  it.live.each([0, 5_000])("leave, then the end of the session's scope: the peer reads the goodbye (heartbeat %i ms)", (heartbeatMs) =>
    // with heartbeats off the scope cut the goodbye: the peer read "The connection was closed by the other side."
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const listen = { host: "127.0.0.1", port }
      const server = Effect.gen(function* () {
        const s = yield* P2pchat.open({ mode: "server", listen, heartbeatMs })
        yield* Stream.runHead(s.messages)
        yield* Effect.sleep("300 millis")
        yield* s.leave()
      }).pipe(Effect.scoped, Effect.provide(P2pchat.layer()))
      const client = Effect.gen(function* () {
        yield* Effect.sleep("200 millis")
        const c = yield* P2pchat.open({ mode: "client", target: listen })
        yield* c.send("hi")
        return yield* c.outcome
      }).pipe(Effect.scoped, Effect.provide(P2pchat.layer()))
      const [, outcome] = yield* Effect.all([server, client], { concurrency: 2 })
      expect(outcome).toMatchObject({ _tag: "PeerLeft", undelivered: [] })
    })
  )

  /** `open` with these options, over an in-memory network of its own, ends within a second in a defect that says `said`. */
  const diesSaying = (options: P2pchat.PeerOptions, said: string) =>
    Effect.gen(function* () {
      const network = yield* P2pchat.MemoryTransport.make
      const stack = Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer())
      const exit = yield* Effect.exit(
        Effect.scoped(P2pchat.open(options).pipe(Effect.provide(stack))).pipe(
          Effect.timeoutFail({ duration: "1 second", onTimeout: () => new Error("open went on for a second") })
        )
      )
      expect(exit._tag).toBe("Failure")
      if (exit._tag === "Failure") expect(Cause.pretty(exit.cause)).toContain(said)
    })

  it.live("client and auto mode without a target die saying what is missing", () =>
    Effect.forEach(["client", "auto"] as const, (mode) => diesSaying({ mode }, `mode "${mode}" needs a target`))
  )

  it.live("an address no socket can have dies saying which and why, in every mode that uses it (auto mode waited, silent, for good)", () => {
    const ok = { host: "127.0.0.1", port: 9 }
    const cases: Array<[P2pchat.PeerOptions, string]> = [
      [{ mode: "auto", listen: ok, target: { host: "127.0.0.1", port: 70_000 } }, "target.port 70000 is not a port: give a whole number from 1 to 65535"],
      [{ mode: "client", target: { host: "127.0.0.1", port: 0 } }, "target.port 0 is not a port"],
      [{ mode: "auto", listen: ok, target: { host: "127.0.0.1", port: "8000" as unknown as number } }, 'target.port "8000" is not a port'],
      [{ mode: "server", listen: { host: "127.0.0.1", port: -1 } }, "listen.port -1 is not a port: give a whole number from 0 (any free port) to 65535"],
      [{ mode: "auto", listen: { host: "127.0.0.1", port: 1.5 }, target: ok }, "listen.port 1.5 is not a port"],
      [{ mode: "server", listen: { host: 8 as unknown as string, port: 1 } }, "listen.host must be a string, not 8"]
    ]
    return Effect.forEach(cases, ([options, said]) => diesSaying({ ...options, connectFor: "3 seconds" }, said))
  })

  it.live("a heartbeat too short to tell silence from a slow frame dies saying so (1 would take 3 ms without a frame for a peer gone)", () =>
    Effect.forEach([1, 99, -5, Number.NaN, Number.POSITIVE_INFINITY], (heartbeatMs) =>
      diesSaying({ mode: "server", listen: { host: "h", port: 0 }, heartbeatMs }, `heartbeatMs ${heartbeatMs} is no heartbeat: give 0 (off) or at least 100 ms`)
    )
  )

  /** `open` with these options, over an in-memory network of its own, until it says `listening`: the address it says. */
  const listensOn = (options: P2pchat.PeerOptions) =>
    Effect.gen(function* () {
      const network = yield* P2pchat.MemoryTransport.make
      const stack = Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer())
      const said: Array<string> = []
      const opening = yield* Effect.fork(
        Effect.scoped(
          P2pchat.open({
            ...options,
            onEvents: (es) => Effect.sync(() => es.forEach((e) => e._tag === "listening" && said.push(e.address)))
          }).pipe(Effect.provide(stack))
        )
      )
      yield* until(() => said.length > 0 || opening.unsafePoll() !== null)
      yield* Fiber.interrupt(opening)
      return said
    })

  it.live("the least heartbeat, 100 ms, is taken", () =>
    Effect.map(listensOn({ mode: "server", heartbeatMs: 100 }), (said) => expect(said).toHaveLength(1))
  )

  it.live("without a listen address, server and auto mode listen on loopback only, not on every address", () =>
    Effect.forEach(
      [{ mode: "server" }, { mode: "auto", target: { host: "127.0.0.1", port: 9 } }] as const,
      (options) => Effect.map(listensOn(options), (said) => expect(said).toEqual(["127.0.0.1"]))
    )
  )

  it.live("a duration option that is none, or out of range, dies naming it (Effect's word was \"Invalid DurationInput\"; 0 rejected every peer)", () => {
    const cases: Array<[Partial<P2pchat.PeerOptions>, string]> = [
      [{ handshakeTimeout: "ten seconds" as Duration.DurationInput }, 'handshakeTimeout "ten seconds" is not a duration: give more than 0 (not Infinity)'],
      [{ handshakeTimeout: 0 }, "handshakeTimeout 0 is out of range"],
      [{ handshakeTimeout: "0 millis" }, 'handshakeTimeout "0 millis" is out of range'],
      [{ handshakeTimeout: Number.POSITIVE_INFINITY }, "handshakeTimeout Infinity is out of range"],
      [{ handshakeTimeout: Duration.infinity }, "handshakeTimeout"],
      [{ connectFor: Number.NaN }, "connectFor NaN is not a duration: give 0 or more, such as"],
      [{ connectFor: -5 }, "connectFor -5 is out of range"],
      [{ connectFor: "-1 seconds" }, 'connectFor "-1 seconds" is out of range'],
      [{ connectFor: { seconds: 3 } as unknown as Duration.DurationInput }, "connectFor [object Object] is not a duration"]
    ]
    return Effect.forEach(cases, ([options, said]) => diesSaying({ mode: "server", listen: { host: "h", port: 0 }, ...options }, said))
  })

  it.live("connectFor 0 tries once, and Infinity keeps trying until the peer is there", () =>
    Effect.gen(function* () {
      const network = yield* P2pchat.MemoryTransport.make
      const stack = Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer())
      const target = { host: "127.0.0.1", port: 7 }
      const once = yield* Effect.exit(Effect.scoped(P2pchat.open({ mode: "client", target, connectFor: 0 }).pipe(Effect.provide(stack))))
      expect(once._tag === "Failure" && Cause.pretty(once.cause)).toContain("refused")
      const server = Effect.gen(function* () {
        yield* Effect.sleep("1200 millis")
        const s = yield* P2pchat.open({ mode: "server", listen: target })
        yield* s.leave()
        return yield* s.outcome
      }).pipe(Effect.scoped, Effect.provide(stack))
      const client = Effect.gen(function* () {
        const c = yield* P2pchat.open({ mode: "client", target, connectFor: Duration.infinity })
        return yield* c.outcome
      }).pipe(Effect.scoped, Effect.provide(stack))
      const [, outcome] = yield* Effect.all([server, client], { concurrency: 2 })
      expect(outcome._tag).toBe("PeerLeft")
    })
  )

  it.live("an open interrupted while it listens gives the port back at once, though the TLS layer lives on: the next open listens there", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const listen = { host: "127.0.0.1", port }
      const waitForPeer = P2pchat.open({ mode: "server", listen, heartbeatMs: 0 }).pipe(Effect.scoped, Effect.timeout("300 millis"), Effect.flip)
      const refused = Effect.async<boolean>((resume) => {
        const socket = net.connect(port, "127.0.0.1")
        socket.once("connect", () => resume(Effect.succeed(false)))
        socket.once("error", (e) => resume(Effect.succeed((e as NodeJS.ErrnoException).code === "ECONNREFUSED")))
        return Effect.sync(() => socket.destroy())
      })
      // one layer for both opens, provided inside a scope of the program's own, as a program that opens chat
      // after chat has it (the layer took that scope for its listeners', which then lived as long as it)
      yield* Effect.gen(function* () {
        expect(yield* waitForPeer).toMatchObject({ _tag: "TimeoutException" })
        expect(yield* refused).toBe(true)
        expect(yield* waitForPeer).toMatchObject({ _tag: "TimeoutException" })
      }).pipe(Effect.provide(P2pchat.layer()), Effect.scoped)
    })
  )

  it.live("an HTTP request over TLS that arrives a byte at a time is turned away without being said connected", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const events: Array<P2pchat.ChatEvent> = []
      const server = yield* Effect.fork(
        P2pchat.open({ mode: "server", listen: { host: "127.0.0.1", port }, heartbeatMs: 0, onEvents: (e) => Effect.sync(() => void events.push(...e)) }).pipe(
          Effect.scoped,
          Effect.provide(P2pchat.layer())
        )
      )
      yield* until(() => events.some((e) => e._tag === "listening"))
      const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }).on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      yield* Effect.promise(() => new Promise((resolve) => socket.once("secureConnect", resolve)))
      // each byte its own TLS record: the listener's first read may be 1 byte, then 1, 1, 1
      for (const byte of new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")) {
        socket.write(Uint8Array.of(byte))
        yield* Effect.sleep("10 millis")
      }
      yield* until(() => events.some((e) => e._tag === "rejected"))
      yield* Fiber.interrupt(server)
      expect(events.filter((e) => e._tag === "rejected")).toEqual([expect.objectContaining({ reason: expect.stringContaining("HTTP request") })])
      expect(events.filter((e) => e._tag === "connected")).toEqual([])
    }).pipe(Effect.scoped)
  )

  it.live.each<{ readonly how: string; readonly describe?: (e: P2pchat.ChatError) => string; readonly said: RegExp }>([
    { how: "by default in words that name no setting of the CLI", said: /^The connection went silent: .* \(0\.3 s; over a slow link, allow the handshake more time\)\.$/ },
    { how: "by the describe option where given (the CLI's names its flag)", describe: (e) => `turned away: ${e._tag}`, said: /^turned away: TransportError$/ }
  ])("a peer silent past handshakeTimeout is turned away, said $how", ({ describe, said }) =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const events: Array<P2pchat.ChatEvent> = []
      const server = yield* Effect.fork(
        P2pchat.open({
          mode: "server",
          listen: { host: "127.0.0.1", port },
          heartbeatMs: 0,
          handshakeTimeout: 300,
          ...(describe === undefined ? {} : { describe }),
          onEvents: (e) => Effect.sync(() => void events.push(...e))
        }).pipe(Effect.scoped, Effect.provide(P2pchat.layer()))
      )
      yield* until(() => events.some((e) => e._tag === "listening"))
      // TLS, then not a word
      const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }).on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      yield* until(() => events.some((e) => e._tag === "rejected"))
      yield* Fiber.interrupt(server)
      const rejected = events.filter((e) => e._tag === "rejected")
      expect(rejected).toEqual([expect.objectContaining({ role: "listener", reason: expect.stringMatching(said) })])
    }).pipe(Effect.scoped)
  )

  it.effect("a failure reads as its sentence where a library user meets it: its message, Cause.pretty, a rejected promise", () =>
    Effect.gen(function* () {
      const network = yield* P2pchat.MemoryTransport.make
      const stack = Layer.merge(Layer.succeed(P2pchat.Transport, network), P2pchat.protocolLayer())
      const exit = yield* Effect.exit(
        Effect.scoped(P2pchat.open({ mode: "client", target: { host: "nobody", port: 9 }, connectFor: "0 millis" }).pipe(Effect.provide(stack)))
      )
      expect(exit._tag).toBe("Failure")
      if (exit._tag !== "Failure") return
      const error = Cause.squash(exit.cause) as P2pchat.ChatError
      expect(error._tag).toBe("ConnectError")
      expect(error.message).toBe(P2pchat.describeError(error))
      expect(Cause.pretty(exit.cause)).toContain(`ConnectError: ${P2pchat.describeError(error)}`)
      const rejection = yield* Effect.promise(() => Effect.runPromise(Effect.fail(error)).then(() => "", String))
      expect(rejection).toContain(P2pchat.describeError(error))
      // and so for every kind (Data.TaggedError's own message is "An error has occurred", whatever happened)
      const all: ReadonlyArray<P2pchat.ChatError> = [
        new P2pchat.UsageError({ detail: "No target given." }),
        new P2pchat.ListenError({ host: "127.0.0.1", port: 1, reason: "Permission", detail: "EACCES" }),
        new P2pchat.ConnectError({ host: "::1", port: 2, reason: "Timeout", detail: "5 s" }),
        new P2pchat.TransportError({ reason: "Reset", detail: "ECONNRESET" }),
        new P2pchat.FrameError({ reason: "TooLarge", size: 5, max: 4 }),
        new P2pchat.HandshakeError({ protocol: "v2", reason: "Confirmation", detail: "wrong key confirmation" }),
        new P2pchat.SessionError({ protocol: "seed", reason: "Decrypt", detail: "authentication failed" }),
        new P2pchat.CertificateError({ reason: "Read", path: "/x.pem", detail: "no such file" }),
        new P2pchat.InputError({ detail: "EIO: i/o error, read" }),
        new P2pchat.InternalError({ detail: "TypeError: boom" })
      ]
      for (const e of all) {
        expect(e.message).toBe(P2pchat.describeError(e))
        expect(String(e)).toBe(`${e._tag}: ${P2pchat.describeError(e)}`)
      }
      // a library's messages name no command-line flag (the CLI adds "pick another with -p")
      const inUse = new P2pchat.ListenError({ host: "127.0.0.1", port: 8000, reason: "AddressInUse", detail: "EADDRINUSE" })
      expect(inUse.message).toBe("Cannot listen on 127.0.0.1:8000: the port is already in use.")
    })
  )

  it("an example that cannot start says why in one sentence (the echo bot on a port in use)", async () => {
    // it printed "undefined": describeError was given the FiberFailure a rejected runPromise carries
    const port = await freePort()
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve))
    try {
      const bot = await new Promise<{ code: number | null; err: string }>((resolve) =>
        execFile(process.execPath, [path.resolve(import.meta.dirname, "../examples/echo-bot.mjs"), String(port)], { timeout: 20_000 }, (e, _, err) =>
          resolve({ code: e === null ? 0 : typeof e.code === "number" ? e.code : null, err })
        )
      )
      expect(bot.code).toBe(1)
      expect(bot.err).toBe(`Cannot listen on 127.0.0.1:${port}: the port is already in use.\n`)
    } finally {
      taken.close()
    }
  })

  it("the examples run against each other over TLS on 127.0.0.1: the sender's message is echoed and receipted", async () => {
    const port = await freePort()
    const examples = path.resolve(import.meta.dirname, "../examples")
    const bot = spawn(process.execPath, [path.join(examples, "echo-bot.mjs"), String(port)], { stdio: ["ignore", "pipe", "pipe"] })
    let botOut = ""
    bot.stdout.on("data", (d) => (botOut += d))
    const botExit = new Promise<number | null>((resolve) => bot.on("exit", (code) => resolve(code)))
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`echo bot did not start: ${botOut}`)), 10_000)
        bot.stdout.on("data", () => botOut.includes("listening") && (clearTimeout(timer), resolve()))
      })
      const sender = await new Promise<{ code: number; out: string }>((resolve) =>
        execFile(process.execPath, [path.join(examples, "send-once.mjs"), `127.0.0.1:${port}`, "ping"], { timeout: 20_000 }, (err, out) =>
          resolve({ code: err ? 1 : 0, out })
        )
      )
      expect(sender.code).toBe(0)
      const result = JSON.parse(sender.out.trim().split("\n").at(-1)!)
      expect(result).toMatchObject({ delivered: true, reply: "echo: ping" })
      expect(result.sas).toMatch(/^\d{4} \d{4}$/)
      expect(await botExit).toBe(0)
      expect(botOut).toContain(`safety code ${result.sas}`)
      expect(botOut).toContain("chat over: PeerLeft")
    } finally {
      bot.kill()
    }
  })
})
