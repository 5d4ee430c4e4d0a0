import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Schedule, Scope } from "effect"
import { spawn } from "node:child_process"
import dnsModule from "node:dns"
import * as dns from "node:dns/promises"
import * as net from "node:net"
import * as tls from "node:tls"
import { describeError } from "../src/domain/errors.js"
import { DEFAULT_MAX_FRAME } from "../src/domain/frame.js"
import { frame } from "../src/layers/LengthPrefixFraming.js"
import * as ForgeCertificate from "../src/layers/ForgeCertificate.js"
import * as NodeTlsTransport from "../src/layers/NodeTlsTransport.js"
import * as V2Protocol from "../src/layers/V2Protocol.js"
import { Certificate } from "../src/services/Certificate.js"
import { type Listener, Transport } from "../src/services/Transport.js"
import { acceptsFailOnceClosed } from "./support/listener-contract.js"
import { until, untilStill } from "./support/progress.js"
import { node } from "./support/sessions.js"

const tlsLayer = NodeTlsTransport.layer.pipe(Layer.provide(ForgeCertificate.layerGenerated))

/** The listener's next connection, and ours to it. */
const connectTo = (listener: Listener) =>
  Effect.flatMap(Transport, (transport) =>
    Effect.all([listener.accept, transport.connect(listener.address, { connectTimeoutMs: 5_000 })], { concurrency: 2 })
  )

const connectedPair = Effect.gen(function* () {
  const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
  const [server, client] = yield* connectTo(listener)
  return { server, client }
})

/** The transport with a certificate that comes `delay` late: TCP listens at once, TLS waits for it. */
const certificateLate = (delay: Duration.DurationInput) =>
  Effect.map(ForgeCertificate.generateIdentity("late"), (identity) =>
    NodeTlsTransport.layer.pipe(Layer.provide(Layer.succeed(Certificate, { identity: Effect.delay(Effect.succeed(identity), delay) })))
  )

/** A node:tls client of our listener, destroyed with the scope; `closed` settles when its socket closes. */
const tlsClient = (port: number, options: tls.ConnectionOptions = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options }).on("error", () => {})
      const secured = new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()))
      const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
      return { socket, secured, closed }
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** Whether the promise settles within `ms`. */
const within = (promise: Promise<unknown>, ms: number) =>
  Effect.promise(() => Promise.race([promise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]))

/** A plain TCP server of the test's own on 127.0.0.1, closed with the scope: its port. */
const listening = (server: net.Server) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))),
    () => Effect.sync(() => server.close())
  )
/**
 * A plain TCP connection of ours (`socket`) to a server of the test's own that reads nothing; `atServer` is its
 * end there, once the server has it. Both are destroyed with the scope.
 */
const unreadTcp = Effect.gen(function* () {
  let atServer: net.Socket | undefined
  const port = yield* listening(net.createServer((s) => void (atServer = s)))
  yield* Effect.addFinalizer(() => Effect.sync(() => atServer?.destroy()))
  const socket = yield* Effect.acquireRelease(
    Effect.async<net.Socket>((resume) => {
      const s = net.connect(port, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) => Effect.sync(() => s.destroy())
  )
  return { socket, atServer: () => atServer }
})

/**
 * A target of the test's own that takes the TCP connection and never answers TLS, reading (and dropping) what
 * comes so that the end of a connection is seen: its port, and a promise per connection of its close there.
 */
const silentTarget = Effect.gen(function* () {
  const sockets: Array<net.Socket> = []
  const closed: Array<Promise<void>> = []
  const server = net.createServer((s) => {
    sockets.push(s.resume())
    closed.push(new Promise((resolve) => s.once("close", () => resolve())))
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((s) => s.destroy())))
  return { port: yield* listening(server), closed }
})

/** A port on 127.0.0.1 and ::1 where nothing listens: one the system gave a server of ours on both, then closed. */
const closedPort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "::", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

const total = (chunks: ReadonlyArray<Uint8Array>) => chunks.reduce((n, c) => n + c.length, 0)

describe("the node:tls transport", () => {
  it.scopedLive("a write is done only once the socket no longer reads its chunks: reusing them then changes nothing sent", () =>
    Effect.gen(function* () {
      const { server, client } = yield* connectedPair
      const writes = 400
      const total = writes * 1_000
      const reading = yield* Effect.fork(
        Effect.gen(function* () {
          let zeros = 0
          let got = 0
          for (let i = 0; i < 100_000 && got < total; i++) {
            const chunk = yield* server.read
            got += chunk.length
            for (const b of chunk) if (b === 0) zeros++
          }
          return { got, zeros }
        })
      )
      // small writes in quick succession: while one is in progress Node buffers the next ones, still reading
      // them later; the caller reuses each buffer (here: zeroes it) as soon as its write is done
      for (let i = 0; i < writes; i++) {
        const chunks = [new Uint8Array(400).fill(0xab), new Uint8Array(600).fill(0xcd)]
        yield* client.writev!(chunks)
        for (const c of chunks) c.fill(0)
      }
      const { got, zeros } = yield* Fiber.join(reading).pipe(Effect.timeout("10 seconds"))
      expect(got).toBe(total)
      expect(zeros).toBe(0)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a connection nobody reads stops taking the peer's bytes: about a megabyte is buffered, then TCP holds the peer back", () =>
    Effect.gen(function* () {
      const { client } = yield* connectedPair // the server's side is never read
      const flood = 64 * 1024 * 1024
      let written = 0
      yield* Effect.forkScoped(
        Effect.gen(function* () {
          const chunk = new Uint8Array(64 * 1024)
          while (written < flood) {
            yield* client.write(chunk)
            written += chunk.length
          }
        })
      )
      yield* untilStill(() => written, flood)
      // what the reading side buffers (1 MiB), and the two kernels' socket buffers
      expect(written).toBeGreaterThan(1024 * 1024)
      expect(written).toBeLessThan(32 * 1024 * 1024)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a reader that comes back to a connection paused that way gets every byte, reading chunk by chunk (read)", () =>
    Effect.gen(function* () {
      const { server, client } = yield* connectedPair
      const flood = 8 * 1024 * 1024
      let written = 0
      const writing = yield* Effect.fork(
        Effect.gen(function* () {
          const chunk = new Uint8Array(64 * 1024).fill(7)
          while (written < flood) {
            yield* client.write(chunk)
            written += chunk.length
          }
        })
      )
      // nobody reads until the writes stop: the socket is paused
      yield* untilStill(() => written, flood)
      expect(written).toBeLessThan(flood)
      let got = 0
      for (let i = 0; i < 100_000 && got < flood; i++) {
        const chunk = yield* server.read.pipe(Effect.timeout("5 seconds"))
        got += chunk.length
      }
      expect(got).toBe(flood)
      yield* Fiber.join(writing)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("readAtLeast wakes the reader once that many bytes are there, handing over every chunk; at the end, what is left", () =>
    Effect.gen(function* () {
      const { server, client } = yield* connectedPair
      const reading = yield* Effect.fork(server.readAtLeast!(2_500))
      // three writes far enough apart to arrive as three separate reads
      for (let i = 0; i < 3; i++) {
        yield* client.write(new Uint8Array(1_000).fill(i + 1))
        yield* Effect.sleep(30)
      }
      const first = yield* Fiber.join(reading).pipe(Effect.timeout("5 seconds"))
      expect(total(first)).toBe(3_000)
      yield* client.write(new Uint8Array(700).fill(9))
      yield* client.close
      const rest = yield* server.readAtLeast!(5_000).pipe(Effect.timeout("5 seconds"))
      expect(total(rest)).toBe(700)
      const end = yield* Effect.flip(server.readAtLeast!(1)).pipe(Effect.timeout("5 seconds"))
      expect(end.reason).toBe("Eof")
    }).pipe(Effect.provide(tlsLayer))
  )

  // auto mode's higher side reads its outgoing connection's first bytes to know the listener spoke, then puts
  // them back for the handshake, whose first read is a readAtLeast
  it.scopedLive("unread puts a chunk back ahead of what waits: the next read gives it again, and readAtLeast counts its bytes", () =>
    Effect.gen(function* () {
      const { server, client } = yield* connectedPair
      yield* client.write(new Uint8Array(1_000).fill(1))
      const first = yield* server.read.pipe(Effect.timeout("5 seconds"))
      // more arrives before the chunk is put back
      yield* client.write(new Uint8Array(500).fill(2))
      yield* Effect.sleep(50)
      server.unread(first)
      const again = yield* server.read.pipe(Effect.timeout("5 seconds"))
      expect(again).toEqual(first)
      server.unread(again)
      // both are there: the two together are enough, with nothing more to wait for
      const all = yield* server.readAtLeast!(first.length + 500).pipe(Effect.timeout("5 seconds"))
      expect(all[0]).toEqual(first)
      expect(total(all)).toBe(first.length + 500)
      expect(all.slice(1).every((c) => c.every((b) => b === 2))).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a frame of the largest size, written in pieces, arrives whole", () =>
    Effect.gen(function* () {
      const { server, client } = yield* connectedPair
      const body = Uint8Array.from({ length: DEFAULT_MAX_FRAME }, (_, i) => (i * 31) & 0xff)
      const wire = new Uint8Array(4 + body.length)
      new DataView(wire.buffer).setUint32(0, body.length)
      wire.set(body, 4)
      const sending = yield* Effect.fork(
        Effect.forEach(Array.from({ length: Math.ceil(wire.length / 50_000) }, (_, i) => wire.subarray(i * 50_000, (i + 1) * 50_000)), (piece) =>
          client.write(piece)
        )
      )
      const got = yield* frame(server).readFrame.pipe(Effect.timeout("10 seconds"))
      yield* Fiber.join(sending)
      expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("connect returns once our side of the TLS handshake is sent: work right after it does not hold up the listener", () =>
    Effect.gen(function* () {
      const identity = yield* ForgeCertificate.generateIdentity("test")
      // a plain node:tls server in its own process, which tells when its side of TLS is done
      const server = `
        const tls = require("node:tls")
        const s = tls.createServer({ key: process.env.KEY, cert: process.env.CERT }, (socket) => {
          console.log(JSON.stringify({ secureAt: performance.timeOrigin + performance.now() }))
          socket.on("error", () => {})
        })
        s.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: s.address().port })))`
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, ["-e", server], { env: { ...process.env, KEY: identity.keyPem, CERT: identity.certPem } })
        ),
        (c) => Effect.sync(() => c.kill())
      )
      const lines: Array<Record<string, number>> = []
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        for (const l of d.split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l))
      })
      const said = (key: string): Effect.Effect<number, Error> =>
        Effect.suspend(() => {
          const value = lines.find((l) => key in l)?.[key]
          return value === undefined ? Effect.fail(new Error(`the server has not said ${key}`)) : Effect.succeed(value)
        }).pipe(Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 1_000 }))
      const port = yield* said("port")
      const transport = yield* Transport
      yield* transport.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 5_000 })
      // what a handshake does next: half a second of work on this thread, before anything else can run
      const connectedAt = performance.timeOrigin + performance.now()
      while (performance.now() + performance.timeOrigin < connectedAt + 500);
      const secureAt = yield* said("secureAt")
      expect(secureAt - connectedAt).toBeLessThan(250)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a target that does not speak TLS (a web server) is said in a sentence, without OpenSSL's internals", () =>
    Effect.gen(function* () {
      // answers as a web server does to what is not HTTP
      const server = net.createServer((s) => s.once("data", () => s.end("HTTP/1.0 400 Bad Request\r\n\r\n")))
      const port = yield* listening(server)
      const transport = yield* Transport
      const error = yield* Effect.flip(transport.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 5_000 }))
      expect(error).toMatchObject({ _tag: "ConnectError", reason: "Tls" })
      // it read "...: 80EC652AD47F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/..."
      expect(describeError(error)).toBe(`Could not set up TLS with 127.0.0.1:${port}: what answers there does not speak TLS (is it p2pchat?).`)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a target that takes the TCP connection and never answers TLS is said with the time waited, and our connection is closed", () =>
    Effect.gen(function* () {
      const { port, closed } = yield* silentTarget
      const transport = yield* Transport
      const error = yield* Effect.flip(transport.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 300 }))
      expect(error).toMatchObject({ _tag: "ConnectError", reason: "Timeout" })
      // it read "no answer before the time limit": which limit, a person could not tell
      expect(describeError(error)).toBe(`Could not reach 127.0.0.1:${port}: no answer within 0.3 s.`)
      // given up on, the connection is not left open at the target
      expect(closed).toHaveLength(1)
      expect(yield* within(closed[0]!, 1_000)).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a connect still waiting for TLS, interrupted (auto mode's losing attempt), closes our connection at once", () =>
    Effect.gen(function* () {
      const { port, closed } = yield* silentTarget
      const transport = yield* Transport
      const connecting = yield* Effect.fork(Effect.scoped(transport.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 30_000 })))
      yield* until(() => closed.length === 1)
      expect(closed).toHaveLength(1)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(connecting))).toBe(true)
      // not at its 30 s deadline: the target sees the connection end now
      expect(yield* within(closed[0]!, 1_000)).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive.each([
    // it stayed open for good: secured after the close, it went into the queue nobody takes from
    { when: "the certificate comes soon after", late: "300 millis", withinMs: 1_500 },
    // closed at the close itself, not when TLS could go on
    { when: "the certificate is still being made", late: "3 seconds", withinMs: 1_000 }
  ] as const)("a connection still in its TLS handshake when the listener closes is closed too, not left open unclaimed ($when)", ({ late, withinMs }) =>
    Effect.gen(function* () {
      // the certificate is late, so TLS waits on it; the listener closes meanwhile (auto mode closes its
      // listener once its own connection wins, a spare connection of the peer's may be half way through TLS)
      const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 })).pipe(
        Effect.provide(yield* certificateLate(late))
      )
      const client = yield* tlsClient(listener.address.port)
      yield* Effect.sleep("100 millis")
      yield* listener.close
      expect(yield* within(client.closed, withinMs)).toBe(true)
    })
  )

  // PROTOCOL.md's exporter has no context. TLS 1.3 computes an empty context as none, TLS 1.2 (RFC 5705) does
  // not: a peer of another implementation on TLS 1.2 would have derived other keys than ours
  it.scopedLive.each(["TLSv1.2", "TLSv1.3"] as const)("exports keying material as TLS's exporter for the label, without a context: what the peer's own TLS computes (%s)", (version) =>
    Effect.gen(function* () {
      const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
      const client = yield* tlsClient(listener.address.port, { maxVersion: version })
      const server = yield* listener.accept
      yield* Effect.promise(() => client.secured)
      expect(client.socket.getProtocol()).toBe(version)
      const label = "EXPORTER-p2pchat-v2"
      const ours = Buffer.from(server.exportKeyingMaterial(32, label)).toString("hex")
      // no context (node takes it as optional, @types/node does not)
      expect(ours).toBe(client.socket.exportKeyingMaterial(32, label, undefined as unknown as Buffer).toString("hex"))
      expect(Buffer.from(server.exportKeyingMaterial(32, "EXPORTER-another")).toString("hex")).not.toBe(ours)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("an IPv6 address with letters in it is not sent as the TLS server name (node warned on stderr about it)", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("warning", onWarning)),
        () => Effect.sync(() => process.off("warning", onWarning))
      )
      const transport = yield* Transport
      const listener = yield* transport.listen({ host: "127.0.0.1", port: 0 })
      // the IPv4 listener, reached through its IPv4-mapped IPv6 address
      yield* Effect.all([listener.accept, transport.connect({ host: "::ffff:127.0.0.1", port: listener.address.port }, { connectTimeoutMs: 5_000 })], {
        concurrency: 2
      })
      yield* Effect.sleep("50 millis")
      expect(warnings).toEqual([])
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("an IPv4 peer of a listener on :: is known by its IPv4 address, not the IPv6 form node maps it to", () =>
    Effect.gen(function* () {
      const transport = yield* Transport
      const listener = yield* transport.listen({ host: "::", port: 0 })
      const port = listener.address.port
      const [server, client] = yield* Effect.all([listener.accept, transport.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 5_000 })], {
        concurrency: 2
      })
      // it read "Connected from [::ffff:127.0.0.1]:40112"
      expect(server.remote).toEqual({ host: "127.0.0.1", port: client.local.port })
      expect(server.local).toEqual({ host: "127.0.0.1", port })
      const plain = net.connect(port, "127.0.0.1", () => plain.write("GET / HTTP/1.1\r\n\r\n")).on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => plain.destroy()))
      expect((yield* listener.turnedAway!).remote.host).toBe("127.0.0.1")
    }).pipe(Effect.provide(tlsLayer))
  )

  // auto mode orders the two sides by address: a target given by name must be known by the address it resolves to
  // (both sides naming each other both took themselves for the lower side)
  it.scopedLive("resolve gives the address a name stands for, first as node's connect looks it up; an address stands for itself, a zone kept", () =>
    Effect.gen(function* () {
      const resolve = (yield* Transport).resolve!
      const looked = yield* Effect.promise(() => dns.lookup("localhost"))
      expect(yield* resolve("localhost")).toBe(looked.address)
      expect(yield* resolve("127.0.0.1")).toBe("127.0.0.1")
      expect(yield* resolve("::1")).toBe("::1")
      expect(yield* resolve("fe80::1%lo")).toBe("fe80::1%lo")
    }).pipe(Effect.provide(tlsLayer))
  )

  // "localhost" is 127.0.0.1 on one machine, ::1 and 127.0.0.1 on another: a peer listening on ::1 was "nobody is
  // listening there" with no word of where the connection had gone
  it.scopedLive("a refused connection to a name says the addresses it was tried at; to an address, nothing more", () =>
    Effect.gen(function* () {
      const transport = yield* Transport
      const port = yield* closedPort
      const byName = yield* Effect.flip(transport.connect({ host: "localhost", port }, { connectTimeoutMs: 5_000 }))
      const looked = yield* Effect.promise(() => dns.lookup("localhost", { all: true }))
      expect(byName).toMatchObject({ _tag: "ConnectError", reason: "Refused", addresses: expect.arrayContaining([looked[0]!.address]) })
      expect(describeError(byName)).toBe(
        `Could not reach localhost:${port} (${(byName as { addresses?: ReadonlyArray<string> }).addresses?.join(", ")}): nobody is listening there (connection refused).`
      )
      const byAddress = yield* Effect.flip(transport.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 5_000 }))
      expect(byAddress).toMatchObject({ _tag: "ConnectError", reason: "Refused" })
      expect(byAddress).not.toHaveProperty("addresses")
      expect(describeError(byAddress)).toBe(`Could not reach 127.0.0.1:${port}: nobody is listening there (connection refused).`)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a name with two addresses, both refused, says both, and node's error without a message of its own still gives a detail", () =>
    Effect.gen(function* () {
      const transport = yield* Transport
      const port = yield* closedPort
      // node looks names up through dns.lookup as it is when it connects: this name has two addresses
      const lookup = dnsModule.lookup
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const twoAddresses = (host: string, options: dnsModule.LookupOptions, callback: (...args: Array<unknown>) => void) =>
            host === "two.test"
              ? callback(null, [{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }])
              : (lookup as (...args: Array<unknown>) => void)(host, options, callback)
          ;(dnsModule as { lookup: unknown }).lookup = twoAddresses
        }),
        () => Effect.sync(() => void ((dnsModule as { lookup: unknown }).lookup = lookup))
      )
      const error = yield* Effect.flip(transport.connect({ host: "two.test", port }, { connectTimeoutMs: 5_000 }))
      expect(error).toMatchObject({ _tag: "ConnectError", reason: "Refused", addresses: ["::1", "127.0.0.1"] })
      expect(error.detail).toMatch(/ECONNREFUSED ::1.*; .*ECONNREFUSED 127\.0\.0\.1/)
      expect(describeError(error)).toBe(`Could not reach two.test:${port} (::1, 127.0.0.1): nobody is listening there (connection refused).`)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a target that takes the connection and closes or resets it before TLS is said in a sentence, not in node's words", () =>
    Effect.gen(function* () {
      const transport = yield* Transport
      for (const [how, end] of [
        // they read "Client network socket disconnected before secure TLS connection was established" and "read ECONNRESET"
        ["closes", (s: net.Socket) => void s.end()],
        ["resets", (s: net.Socket) => void s.resetAndDestroy()]
      ] as const) {
        const server = net.createServer(end)
        const port = yield* listening(server)
        const error = yield* Effect.flip(transport.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 5_000 }))
        // Closed, as "nobody there yet" is for client mode, which retries it: a forwarder with nobody behind it does this
        expect({ how, reason: error.reason, error: describeError(error) }).toEqual({
          how,
          reason: "Closed",
          error: `No p2pchat answered at 127.0.0.1:${port}: it took the connection and closed it before TLS was set up (a forwarder with no p2pchat behind it yet?).`
        })
      }
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("bytes altered on the way end the connection on both sides at once, said in a sentence", () =>
    Effect.gen(function* () {
      const transport = yield* Transport
      const listener = yield* transport.listen({ host: "127.0.0.1", port: 0 })
      // a TCP relay in between that, once told to, flips a bit in what the connecting side sends
      let tamper = false
      const relay = net.createServer((a) => {
        const b = net.connect(listener.address.port, "127.0.0.1")
        a.on("data", (d: Buffer) => {
          if (tamper) d[d.length - 3]! ^= 1
          b.write(d)
        })
        b.on("data", (d) => a.write(d))
        for (const s of [a, b]) s.on("error", () => {})
        a.on("close", () => b.destroy())
        b.on("close", () => a.destroy())
      })
      const relayPort = yield* listening(relay)
      const [server, client] = yield* Effect.all(
        [listener.accept, transport.connect({ host: "127.0.0.1", port: relayPort }, { connectTimeoutMs: 5_000 })],
        { concurrency: 2 }
      )
      tamper = true
      yield* client.write(new TextEncoder().encode("hello there"))
      // the listening side's read waited on, silent, until the heartbeat gave up; its peer read OpenSSL's internals
      const [atServer, atClient] = yield* Effect.all([Effect.flip(server.read), Effect.flip(client.read)], { concurrency: 2 }).pipe(
        Effect.timeout("2 seconds")
      )
      expect(describeError(atServer)).toBe("The connection failed: TLS found the data altered on the way (bad record mac).")
      expect(describeError(atClient)).toBe("The connection failed: the peer's TLS found the data altered on the way (bad record mac).")
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a peer that connects before the certificate is made waits for it, then gets in", () =>
    Effect.gen(function* () {
      // TCP listens at once, TLS starts when the key is made: the peer's first bytes wait, none are lost
      const { server, client } = yield* connectedPair.pipe(Effect.provide(yield* certificateLate("300 millis")))
      yield* client.write(new TextEncoder().encode("first words"))
      expect(new TextDecoder().decode(yield* server.read)).toBe("first words")
    })
  )
  it.scopedLive("a listener reports connections that speak no TLS, by address and in a sentence; not those that close or reset mid-TLS", () =>
    Effect.gen(function* () {
      const transport = yield* Transport
      const listener = yield* transport.listen({ host: "127.0.0.1", port: 0 })
      const port = listener.address.port
      const sockets: Array<net.Socket> = []
      yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((s) => s.destroy())))
      const plain = (bytes: string) =>
        Effect.async<number>((resume) => {
          const s = net.connect(port, "127.0.0.1", () => {
            s.write(bytes)
            resume(Effect.succeed(s.localPort!))
          })
          s.on("error", () => {})
          sockets.push(s)
        })
      // a TLS client that goes away mid-handshake, as auto mode's spare connections do: nobody's concern
      const gone = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }).on("error", () => {})
      sockets.push(gone)
      yield* Effect.sleep("20 millis")
      gone.destroy()
      yield* plain("")
      sockets.at(-1)!.destroy()
      yield* Effect.sleep("100 millis")
      const http = yield* plain("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      const text = yield* plain("hello\n")
      // in the order their bytes were read, which two connections need not keep
      const said = [yield* listener.turnedAway!, yield* listener.turnedAway!].map((t) => ({ remote: t.remote, error: describeError(t.error) }))
      expect(said.sort((a, b) => (a.remote.port === http ? -1 : b.remote.port === http ? 1 : 0))).toEqual([
        { remote: { host: "127.0.0.1", port: http }, error: "The connection failed: it sent an HTTP request where TLS was expected (p2pchat is no web server)." },
        { remote: { host: "127.0.0.1", port: text }, error: "The connection failed: it does not speak TLS (is it p2pchat?)." }
      ])
      // nothing else was said: the early close and the abandoned TLS client are not in the queue
      expect(yield* Effect.timeout(listener.turnedAway!, "200 millis").pipe(Effect.option)).toEqual(Option.none())
      // a flood is held in a bounded buffer; closing the listener ends the wait of whoever takes them
      for (let i = 0; i < 20; i++) yield* plain("x".repeat(8))
      yield* Effect.sleep("300 millis")
      let held = 0
      while (held < 30 && Option.isSome(yield* Effect.timeout(listener.turnedAway!, "100 millis").pipe(Effect.option))) held++
      expect(held).toBe(8)
      for (let i = 0; i < 3; i++) yield* plain("x".repeat(8))
      yield* Effect.sleep("100 millis")
      yield* listener.close
      const after = yield* Effect.exit(Effect.forever(listener.turnedAway!)).pipe(Effect.timeout("1 second"))
      expect(Exit.isInterrupted(after)).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a frame larger than what the socket buffers before it pauses (1 MiB) still arrives: the reader asks for no more than that at once", () =>
    Effect.gen(function* () {
      const { server, client } = yield* connectedPair
      const big = 3 * 1024 * 1024
      const body = Uint8Array.from({ length: big }, (_, i) => (i * 7) & 0xff)
      const sending = yield* Effect.fork(frame(client, 4 * 1024 * 1024).writeFrames([body]))
      // waiting for the whole frame at once would wait for ever: the socket stops reading at 1 MiB
      const got = yield* frame(server, 4 * 1024 * 1024).readFrame.pipe(Effect.timeout("10 seconds"))
      yield* Fiber.join(sending)
      expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a connection that never starts TLS is cut after 5 s: a silent client cannot hold a place for ever", () =>
    Effect.gen(function* () {
      const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
      const silent = yield* Effect.acquireRelease(
        Effect.sync(() => net.connect(listener.address.port, "127.0.0.1").on("error", () => {})),
        (s) => Effect.sync(() => s.destroy())
      )
      const closed = new Promise<void>((resolve) => silent.once("close", () => resolve()))
      expect(yield* within(closed, 4_000)).toBe(false)
      expect(yield* within(closed, 3_000)).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("at most 64 connections are held at once (in TLS set-up or waiting to be taken): the 65th is closed at once", () =>
    Effect.gen(function* () {
      const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
      const sockets: Array<net.Socket> = []
      yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((s) => s.destroy())))
      const closedEarly: Array<Promise<boolean>> = []
      for (let i = 0; i < 70; i++) {
        const s = net.connect(listener.address.port, "127.0.0.1").on("error", () => {})
        sockets.push(s)
        closedEarly.push(new Promise((resolve) => s.once("close", () => resolve(true))))
        yield* Effect.promise(() => new Promise((resolve) => s.once("connect", resolve)))
      }
      const settled = yield* Effect.promise(() =>
        Promise.all(closedEarly.map((c) => Promise.race([c, new Promise<boolean>((r) => setTimeout(() => r(false), 1_000))])))
      )
      expect(settled.filter(Boolean)).toHaveLength(6)
      expect(settled.slice(0, 64).some(Boolean)).toBe(false)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a listener holds 16 secured connections for whoever takes them; those beyond are closed, and closing the listener closes the 16", () =>
    Effect.gen(function* () {
      const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
      const clients: Array<Effect.Effect.Success<ReturnType<typeof tlsClient>>> = []
      for (let i = 0; i < 20; i++) {
        const c = yield* tlsClient(listener.address.port)
        yield* Effect.promise(() => c.secured)
        clients.push(c)
      }
      const closedSoon = (c: (typeof clients)[number]) => within(c.closed, 1_000)
      const before = yield* Effect.forEach(clients, closedSoon, { concurrency: "unbounded" })
      expect(before.filter(Boolean)).toHaveLength(4)
      expect(before.slice(0, 16).some(Boolean)).toBe(false)
      yield* listener.close
      const after = yield* Effect.forEach(clients.slice(0, 16), closedSoon, { concurrency: "unbounded" })
      expect(after.every(Boolean)).toBe(true)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("closing the listener's scope, without its close, closes the secured connections nobody took too", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      // closed below; this only for a test that fails before
      yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
      const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 })).pipe(Scope.extend(scope))
      const clients = [yield* tlsClient(listener.address.port), yield* tlsClient(listener.address.port)]
      yield* Effect.forEach(clients, (c) => Effect.promise(() => c.secured))
      const closedSoon = (c: (typeof clients)[number]) => within(c.closed, 500)
      expect(yield* Effect.forEach(clients, closedSoon, { concurrency: "unbounded" })).toEqual([false, false])
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.forEach(clients, closedSoon, { concurrency: "unbounded" })).toEqual([true, true])
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("an accept waiting when the listener closes, and one after, fail saying the listener is closed; none waits for good", () =>
    Effect.gen(function* () {
      yield* acceptsFailOnceClosed(yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 })))
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("the keying material it exports is node's own buffer: a v2 handshake over it leaves no copy of the exporter", () =>
    Effect.gen(function* () {
      // every buffer node's exporter hands out, while the test runs
      const exported: Array<Buffer> = []
      const original = tls.TLSSocket.prototype.exportKeyingMaterial
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          tls.TLSSocket.prototype.exportKeyingMaterial = function (this: tls.TLSSocket, ...args) {
            const out = original.apply(this, args)
            exported.push(out)
            return out
          }
        }),
        () => Effect.sync(() => void (tls.TLSSocket.prototype.exportKeyingMaterial = original))
      )
      const { server, client } = yield* connectedPair
      const [connector, listener] = yield* Effect.all(
        [V2Protocol.handshake(node, frame(client), "connector"), V2Protocol.handshake(node, frame(server), "listener")],
        { concurrency: 2 }
      ).pipe(Effect.timeout("10 seconds"))
      expect(connector.info.sas).toBe(listener.info.sas)
      expect(exported.map((b) => b.length)).toEqual([32, 32])
      expect(exported.filter((b) => b.some((x) => x !== 0)).map((b) => b.toString("hex"))).toEqual([])
    }).pipe(Effect.provide(tlsLayer))
  )

  it.effect("a socket's errors are said by what they mean: a reset, keep-alive's verdict, TLS's reason without OpenSSL's internals", () =>
    Effect.gen(function* () {
      const readAfter = (code: string, message: string) => {
        const socket = new net.Socket()
        const conn = NodeTlsTransport.fromSocket(socket)
        socket.emit("error", Object.assign(new Error(message), { code }))
        return Effect.flip(conn.read)
      }
      expect(yield* readAfter("ECONNRESET", "read ECONNRESET")).toMatchObject({ reason: "Reset", detail: "ECONNRESET" })
      expect(yield* readAfter("EPIPE", "write EPIPE")).toMatchObject({ reason: "Reset", detail: "EPIPE" })
      expect(yield* readAfter("ETIMEDOUT", "read ETIMEDOUT")).toMatchObject({ reason: "Timeout", detail: "TCP keep-alive found the peer gone" })
      // not in OpenSSL's usual form: its first line only
      expect(yield* readAfter("ERR_SSL_SOMETHING", "an odd failure\nat ../deps/openssl/x.c:1")).toMatchObject({
        reason: "Read",
        detail: "TLS failed (an odd failure)"
      })
      expect(yield* readAfter("EOTHER", "something else")).toMatchObject({ reason: "Read", detail: "something else" })
    })
  )

  it.scopedLive("a write while our close is under way fails saying the connection is closed; a second close returns at once", () =>
    Effect.gen(function* () {
      const { client } = yield* connectedPair
      const closing = yield* Effect.fork(client.close)
      yield* Effect.yieldNow()
      expect(yield* Effect.flip(client.write(Uint8Array.of(1)))).toMatchObject({ reason: "Write", detail: "the connection is closed" })
      yield* Fiber.join(closing)
      // the socket is gone: nothing would end a wait for its close
      expect(yield* Effect.exit(client.close.pipe(Effect.timeout("1 second")))).toEqual(Exit.void)
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("writes leave no listener behind on the socket, done or interrupted while the peer reads nothing", () =>
    Effect.gen(function* () {
      const { socket } = yield* unreadTcp
      const conn = NodeTlsTransport.fromSocket(socket)
      const listening0 = socket.listenerCount("close")
      for (let i = 0; i < 20; i++) yield* conn.write(new Uint8Array(100))
      expect(socket.listenerCount("close")).toBe(listening0)
      // the server reads nothing: once the kernel's buffers are full (a write or two of 4 MiB may still fit, npm
      // test once saw it), each large write waits, and is given up on
      const largeWrite = () => conn.write(new Uint8Array(4 * 1024 * 1024)).pipe(Effect.timeout("20 millis"), Effect.option)
      for (let i = 0; i < 10 && Option.isSome(yield* largeWrite()); i++);
      for (let i = 0; i < 20; i++) expect(Option.isNone(yield* largeWrite())).toBe(true)
      expect(socket.listenerCount("close")).toBe(listening0)
    })
  )

  it.scopedLive("a write waiting on a peer that reads nothing ends once the peer resets the connection, and the next read says the reset", () =>
    Effect.gen(function* () {
      const { socket, atServer } = yield* unreadTcp
      const conn = NodeTlsTransport.fromSocket(socket)
      const writing = yield* Effect.fork(conn.write(new Uint8Array(16 * 1024 * 1024)))
      yield* Effect.sleep("100 millis")
      expect(writing.unsafePoll()).toBeNull()
      atServer()!.resetAndDestroy()
      // node calls a destroyed socket's pending writes done: the socket is done with their bytes
      yield* Fiber.await(writing).pipe(Effect.timeout("2 seconds"))
      expect(yield* Effect.flip(conn.read)).toMatchObject({ reason: "Reset" })
    })
  )

  it.scopedLive("two connections from one host, in TLS set-up at once, both outlive the 5 s deadline for TLS once taken", () =>
    Effect.gen(function* () {
      // the certificate comes late, so that both wait in TLS set-up together
      yield* Effect.gen(function* () {
        const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
        const pairs = yield* Effect.all([connectTo(listener), connectTo(listener)], { concurrency: 2 })
        yield* Effect.sleep("5500 millis")
        for (const [server, client] of pairs) {
          yield* client.write(Uint8Array.of(7))
          expect(yield* server.read.pipe(Effect.timeout("1 second"))).toEqual(Uint8Array.of(7))
        }
      }).pipe(Effect.provide(yield* certificateLate("300 millis")))
    })
  )

  it.scopedLive("a secured connection reset while it waits to be taken reads as ended once taken, at once", () =>
    Effect.gen(function* () {
      const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
      const raw = net.connect(listener.address.port, "127.0.0.1").on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => raw.destroy()))
      const client = tls.connect({ socket: raw, rejectUnauthorized: false }).on("error", () => {})
      yield* Effect.promise(() => new Promise((resolve) => client.once("secureConnect", resolve)))
      // the listener's side is queued once its handshake ends too
      yield* Effect.sleep("200 millis")
      raw.resetAndDestroy()
      yield* Effect.sleep("200 millis")
      const conn = yield* listener.accept
      expect(yield* Effect.flip(conn.read.pipe(Effect.timeout("1 second")))).toMatchObject({ _tag: "TransportError", reason: "Eof" })
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("a connection reset before TLS, while the certificate is still being made, does not bring the process down", () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const listener = yield* Effect.flatMap(Transport, (t) => t.listen({ host: "127.0.0.1", port: 0 }))
        const raw = net.connect(listener.address.port, "127.0.0.1").on("error", () => {})
        yield* Effect.promise(() => new Promise((resolve) => raw.once("connect", resolve)))
        raw.write("\x16\x03\x01")
        // once the listener has taken the connection (a reset in the kernel's backlog never reaches it)
        yield* Effect.sleep("50 millis")
        raw.resetAndDestroy()
        // the listener goes on: the next peer gets in once the certificate is there
        const [server, client] = yield* connectTo(listener)
        yield* client.write(new TextEncoder().encode("still here"))
        expect(new TextDecoder().decode(yield* server.read)).toBe("still here")
      }).pipe(Effect.provide(yield* certificateLate("500 millis")))
    })
  )

  it.scopedLive("a peer that resets the connection once TLS is up is reported as a reset, not as an end or a read error", () =>
    Effect.gen(function* () {
      // auto mode starts over on a reset before the peer spoke, and gives up on other failures
      const identity = yield* ForgeCertificate.generateIdentity("test")
      const server = net.createServer((raw) => {
        raw.on("error", () => {})
        new tls.TLSSocket(raw, { isServer: true, key: identity.keyPem, cert: identity.certPem })
          .on("error", () => {})
          .once("secure", () => setTimeout(() => raw.resetAndDestroy(), 50))
      })
      const port = yield* listening(server)
      const conn = yield* Effect.flatMap(Transport, (t) => t.connect({ host: "127.0.0.1", port }, { connectTimeoutMs: 5_000 }))
      const error = yield* Effect.flip(conn.read).pipe(Effect.timeout("5 seconds"))
      expect(error.reason).toBe("Reset")
      expect(describeError(error)).toBe("The connection was reset.")
    }).pipe(Effect.provide(tlsLayer))
  )

  it.scopedLive("closing a connection whose peer reads nothing more ends within a few seconds, not when the peer reads", () =>
    Effect.gen(function* () {
      const { server } = yield* connectedPair
      // the peer (its side kept open by the scope) stops reading; our side has more to send than the socket buffers take
      yield* Effect.forkScoped(server.write(new Uint8Array(32 * 1024 * 1024)))
      yield* Effect.sleep("200 millis")
      const [took] = yield* server.close.pipe(Effect.timed, Effect.timeout("10 seconds"))
      expect(Duration.toMillis(took)).toBeLessThan(4_000)
    }).pipe(Effect.provide(tlsLayer))
  )
})
