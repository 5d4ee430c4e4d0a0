import { Effect, Layer, Queue } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import { type Endpoint, unmappedAddress } from "../domain/address.js"
import { ConnectError, ListenError, listenerClosed, TransportError } from "../domain/errors.js"
import { seconds } from "../domain/text.js"
import { Certificate } from "../services/Certificate.js"
import { firstAddress, routeAddress } from "./NodeAddresses.js"
import { type Conn, type Listener, Transport, type TurnedAway } from "../services/Transport.js"

/**
 * The TLS exporter's context, none (PROTOCOL.md). @types/node makes the argument required; node takes it as
 * optional, and without it tells OpenSSL there is no context. TLS 1.3 computes an empty context as none, but
 * TLS 1.2 (RFC 5705) does not: with an empty one, a TLS 1.2 session's exporter was not the protocol's.
 */
const NO_CONTEXT = undefined as unknown as Buffer

/** Read-side buffer above which the socket is paused, so a fast peer cannot make us buffer without bound. */
const READ_HIGH_WATER = 1024 * 1024
/** Keep-alive probes start after this idle time; the chat's own heartbeat gives the tighter bound. */
const KEEPALIVE_MS = 5_000
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

const errnoOf = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? ""

const transportErrorFrom = (e: unknown, reason: "Read" | "Write"): TransportError => {
  const code = errnoOf(e)
  if (code === "ECONNRESET" || code === "EPIPE") return new TransportError({ reason: "Reset", detail: code })
  if (code === "ETIMEDOUT") return new TransportError({ reason: "Timeout", detail: "TCP keep-alive found the peer gone" })
  if (code.startsWith("ERR_SSL") && e instanceof Error) return new TransportError({ reason, detail: sessionTlsDetail(e) })
  return new TransportError({ reason, detail: (e as Error)?.message ?? String(e) })
}

/**
 * A TLS failure once the chat runs, for a person: an altered record (bad record mac) is what someone changing
 * the bytes between the two sides causes, and it read as OpenSSL's internals ("80EC...:error:0A000119:SSL
 * routines:ssl3_get_record:decryption failed or bad record mac:../deps/openssl/...:616:", a line break).
 */
const sessionTlsDetail = (e: Error): string => {
  const reason = openSslReason(e)
  return /bad record mac/.test(reason)
    ? `${/alert/.test(reason) ? "the peer's TLS found" : "TLS found"} the data altered on the way (${reason.replace(/^.*(bad record mac)$/, "$1")})`
    : `TLS failed (${reason})`
}

/** OpenSSL's reason alone, out of its message (else the message's first line). */
const openSslReason = (e: Error): string => /:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+):/.exec(e.message)?.[1] ?? e.message.split("\n")[0]!

const remoteOf = (socket: net.Socket): Endpoint => ({ host: unmappedAddress(socket.remoteAddress ?? ""), port: socket.remotePort ?? 0 })

/** Wraps a connected (TLS) socket as a Conn. Reads are pulled; the socket pauses when we fall behind. */
export const fromSocket = (socket: tls.TLSSocket | net.Socket): Conn => {
  const chunks: Array<Uint8Array> = []
  let buffered = 0
  // gone before it was wrapped (reset while it waited to be accepted): no event will say so any more
  let ended: TransportError | undefined = socket.destroyed ? new TransportError({ reason: "Eof", detail: "closed" }) : undefined
  let waiter: (() => void) | undefined
  // bytes the waiting reader asked for: it is woken once they are buffered, not for every TLS record
  let wanted = 1
  const wake = () => {
    const w = waiter
    waiter = undefined
    wanted = 1
    w?.()
  }
  socket.on("data", (data: Buffer) => {
    chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    buffered += data.byteLength
    if (buffered > READ_HIGH_WATER) socket.pause()
    if (buffered >= wanted) wake()
  })
  socket.on("end", () => {
    ended ??= new TransportError({ reason: "Eof", detail: "end of stream" })
    wake()
  })
  socket.on("error", (e) => {
    ended ??= transportErrorFrom(e, "Read")
    wake()
  })
  socket.on("close", () => {
    ended ??= new TransportError({ reason: "Eof", detail: "closed" })
    wake()
  })

  const read: Effect.Effect<Uint8Array, TransportError> = Effect.suspend(() => {
    const chunk = chunks.shift()
    if (chunk) {
      buffered -= chunk.length
      if (buffered <= READ_HIGH_WATER / 2 && socket.isPaused()) socket.resume()
      return Effect.succeed(chunk)
    }
    if (ended) return Effect.fail(ended)
    return Effect.async<void>((resume) => {
      // the fiber may have yielded since the check above: data that came meanwhile must not be missed
      if (chunks.length > 0 || ended) return resume(Effect.void)
      waiter = () => resume(Effect.void)
      return Effect.sync(() => {
        waiter = undefined
      })
    }).pipe(Effect.zipRight(read))
  })

  const readAtLeast = (bytes: number): Effect.Effect<ReadonlyArray<Uint8Array>, TransportError> =>
    Effect.suspend(() => {
      // never more than the socket buffers before it pauses, or the wait could not end
      const need = Math.min(Math.max(bytes, 1), READ_HIGH_WATER / 2)
      if (buffered >= need || (ended && chunks.length > 0)) {
        const all = chunks.splice(0)
        buffered = 0
        if (socket.isPaused()) socket.resume()
        return Effect.succeed(all)
      }
      if (ended) return Effect.fail(ended)
      return Effect.async<void>((resume) => {
        if (buffered >= need || ended) return resume(Effect.void)
        wanted = need
        waiter = () => resume(Effect.void)
        return Effect.sync(() => {
          waiter = undefined
          wanted = 1
        })
      }).pipe(Effect.zipRight(readAtLeast(bytes)))
    })

  const writev = (chunks: ReadonlyArray<Uint8Array>): Effect.Effect<void, TransportError> =>
    Effect.async<void, TransportError>((resume) => {
      if (socket.destroyed || socket.writableEnded) {
        resume(Effect.fail(new TransportError({ reason: "Write", detail: "the connection is closed" })))
        return
      }
      // Done when the last chunk's write completes: writes complete in order, so the socket no longer reads
      // any of the chunks (the caller reuses their memory) and, while the peer is not reading, this waits
      // (back-pressure). Before that, only a closed socket ends the wait.
      let done = false
      const finish = (result: Effect.Effect<void, TransportError>) => {
        if (done) return
        done = true
        socket.off("close", onClose)
        resume(result)
      }
      const onClose = () => finish(Effect.fail(new TransportError({ reason: "Write", detail: "the connection closed while writing" })))
      socket.on("close", onClose)
      // corked: the chunks reach TLS as one gathered write, without a JavaScript copy to join them
      if (chunks.length > 1) socket.cork()
      for (let i = 0; i < chunks.length; i++) {
        const last = i === chunks.length - 1
        socket.write(
          chunks[i]!,
          last ? (err) => finish(err ? Effect.fail(transportErrorFrom(err, "Write")) : Effect.void) : undefined
        )
      }
      if (chunks.length > 1) socket.uncork()
      return Effect.sync(() => {
        done = true
        socket.off("close", onClose)
      })
    })

  const write = (data: Uint8Array) => writev([data])

  const close = Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    // end() flushes; a peer that never acknowledges is cut after a short grace period
    const timer = setTimeout(() => socket.destroy(), 2_000)
    socket.once("close", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    socket.end()
  })

  const exportKeyingMaterial = (length: number, label: string): Uint8Array => {
    if ("exportKeyingMaterial" in socket && typeof socket.exportKeyingMaterial === "function") {
      // node's own buffer, not a copy of it: the handshake zeroes what it is given once used, and a copy would
      // leave node's holding the secret until it is collected
      const out: Buffer = socket.exportKeyingMaterial(length, label, NO_CONTEXT)
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
    }
    throw new Error("this connection has no TLS session to export keying material from")
  }

  return {
    local: { host: unmappedAddress(socket.localAddress ?? ""), port: socket.localPort ?? 0 },
    remote: remoteOf(socket),
    read,
    readAtLeast,
    unread: (chunk) => {
      chunks.unshift(chunk)
      buffered += chunk.length
    },
    write,
    writev,
    close,
    exportKeyingMaterial
  }
}

/**
 * Where a connection to a name went: node names the address in its error (ECONNREFUSED 127.0.0.1:9201), or,
 * where the name had several and it tried each (autoSelectFamily), in each of an AggregateError's errors.
 */
const addressesTried = (e: Error): Array<string> => {
  const each = e instanceof AggregateError ? (e.errors as Array<unknown>) : [e]
  const addresses = each.map((one) => (one as { address?: unknown })?.address).filter((a): a is string => typeof a === "string")
  return [...new Set(addresses)]
}

/** An error's message; an AggregateError has none of its own (node's, for a name with several addresses). */
const messageOf = (e: Error): string =>
  e.message !== "" || !(e instanceof AggregateError) ? e.message : (e.errors as Array<unknown>).map((one) => (one as Error)?.message).join("; ")

const connectReason = (e: unknown): ConnectError["reason"] => {
  const code = errnoOf(e)
  switch (code) {
    case "ECONNREFUSED":
      return "Refused"
    case "ENETUNREACH":
    case "EHOSTUNREACH":
    case "EADDRNOTAVAIL":
      return "Unreachable"
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return "NameNotFound"
    case "ETIMEDOUT":
      return "Timeout"
    // the connection was taken (a refusal is ECONNREFUSED), then ended before TLS was set up
    case "ECONNRESET":
    case "EPIPE":
      return "Closed"
    default:
      return code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") ? "Tls" : "Other"
  }
}

/** What OpenSSL says when the other side sends something that is not TLS at all (plain text, HTTP). */
const NOT_TLS = new Set(["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_PACKET_LENGTH_TOO_LONG", "ERR_SSL_HTTP_REQUEST"])

/**
 * What went wrong in TLS, for a person. OpenSSL's messages carry its internals ("80EC...:error:0A00010B:SSL
 * routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:", then
 * a line break), and the commonest case, something that is not TLS at all (a web server, a plain TCP
 * service), deserves a sentence of its own.
 */
const tlsDetail = (e: Error): string =>
  NOT_TLS.has(errnoOf(e)) ? "what answers there does not speak TLS (is it p2pchat?)" : openSslReason(e)

/**
 * A connection taken and ended before TLS (node says "Client network socket disconnected before secure TLS
 * connection was established", or "read ECONNRESET"). A forwarder whose far end is not listening yet does that
 * (`ssh -L`, Docker's published ports, socat): for whoever connects it is "nobody there yet", as a refusal is.
 */
const CLOSED_BEFORE_TLS = "it took the connection and closed it before TLS was set up (a forwarder with no p2pchat behind it yet?)"

/**
 * Why a connection to our listener was no TLS client, or undefined when it was one that went away (a reset or
 * close mid-handshake: auto mode's spare connections do that, and they are nobody's concern).
 */
const notTlsDetail = (e: Error): string | undefined => {
  const code = errnoOf(e)
  if (code === "ERR_SSL_HTTP_REQUEST") return "it sent an HTTP request where TLS was expected (p2pchat is no web server)"
  if (NOT_TLS.has(code)) return "it does not speak TLS (is it p2pchat?)"
  return code.startsWith("ERR_SSL") ? `its TLS handshake failed (${openSslReason(e)})` : undefined
}

const prepare = (socket: net.Socket) => {
  socket.setNoDelay(true)
  socket.setKeepAlive(true, KEEPALIVE_MS)
}

/**
 * One TLS context for every connection we make: node builds one per `tls.connect` otherwise (0.28 ms here, before
 * the first byte goes out). It holds nothing of a connection's: no certificate (we present none), and sessions
 * are resumed only when one is passed in, which we never do.
 */
let clientContext: tls.SecureContext | undefined

/**
 * No certificate authority is trusted, on either side: none could vouch for a peer's self-signed certificate (the
 * end-to-end layer authenticates the peer), and without a `ca` node builds its store of the ~140 roots it ships,
 * once per process, 25-40 ms here (unless NODE_EXTRA_CA_CERTS made it build them at start already), on the path
 * to a process's first connection (a listener makes its context after it says it listens).
 */
const NO_AUTHORITIES: Array<string> = []

// Acquisitions below are made interruptible on purpose: acquireRelease would otherwise make a pending
// connect or accept uninterruptible, and the auto-mode race could never cancel its losing branch.
const connect = (to: Endpoint, options?: { readonly connectTimeoutMs?: number }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: tls.TLSSocket; readonly conn: Conn }, ConnectError>((resume) => {
      const timeoutMs = options?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
      // The chain is not checked on purpose: the end-to-end layer (fingerprints, SAS) authenticates the peer.
      const socket = tls.connect({
        host: to.host,
        port: to.port,
        secureContext: (clientContext ??= tls.createSecureContext({ ca: NO_AUTHORITIES })),
        rejectUnauthorized: false,
        // SNI must be a name, never an address (an IPv6 address with letters, fe80::1, was taken for a name: node
        // printed a DeprecationWarning on our stderr)
        ...(net.isIP(to.host.replace(/%.*$/, "")) === 0 ? { servername: to.host } : {})
      })
      const timer = setTimeout(() => {
        socket.destroy()
        resume(Effect.fail(new ConnectError({ ...to, reason: "Timeout", detail: seconds(timeoutMs) })))
      }, timeoutMs)
      let ready: NodeJS.Immediate | undefined
      const onError = (e: Error) => {
        clearTimeout(timer)
        clearImmediate(ready)
        socket.destroy()
        const reason = connectReason(e)
        const detail = reason === "Tls" ? tlsDetail(e) : reason === "Closed" ? CLOSED_BEFORE_TLS : messageOf(e)
        const addresses = net.isIP(to.host.replace(/%.*$/, "")) === 0 ? addressesTried(e) : []
        resume(Effect.fail(new ConnectError({ ...to, reason, detail, ...(addresses.length > 0 ? { addresses } : {}) })))
      }
      socket.once("error", onError)
      socket.once("secureConnect", () => {
        clearTimeout(timer)
        prepare(socket)
        // Node sends our last TLS handshake message only after this listener returns: resuming here would run
        // the chat's handshake (a P-384 key pair first) while the listener still waits to hear TLS is done
        ready = setImmediate(() => {
          socket.off("error", onError)
          // the Conn's own listeners, at once: the fiber resumes a tick later at times, and an error in between,
          // with no listener, node throws (and the close that follows it would have gone unseen)
          resume(Effect.succeed({ socket, conn: fromSocket(socket) }))
        })
      })
      return Effect.sync(() => {
        clearTimeout(timer)
        clearImmediate(ready)
        socket.destroy()
      })
    }).pipe(Effect.interruptible),
    ({ socket }) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map(({ conn }) => conn))

const listenReason = (e: unknown): ListenError["reason"] => {
  switch (errnoOf(e)) {
    case "EADDRINUSE":
      return "AddressInUse"
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "AddressNotAvailable"
    case "EACCES":
      return "Permission"
    default:
      return "Other"
  }
}

/** TLS handshakes that do not finish in time are dropped (a silent or dripping client must not hold the port). */
const TLS_HANDSHAKE_TIMEOUT_MS = 5_000

/**
 * Put in the accept queue when the listener closes: the accept that takes it fails, saying so, and puts it back
 * for the next (one waiting then waited for good). A mark, not a race with a signal: a race interrupted as its
 * take won dropped that connection, left open and unheard.
 */
const LISTENER_CLOSED = "listener closed"

/** Connections (in TLS set-up or waiting to be taken) held at once; the OS refuses more. */
const MAX_CONNECTIONS = 64

/**
 * TCP listens at once; TLS starts on each connection when the certificate is ready. Start-up therefore does
 * not wait for the RSA key: a peer that connects early waits for the server hello until the key is made (its
 * prime search takes 150 ms to most of a second, by luck and machine).
 */
const listen = (on: Endpoint, certificate: Certificate["Type"]) =>
  Effect.gen(function* () {
    const accepted = yield* Queue.bounded<tls.TLSSocket | typeof LISTENER_CLOSED>(16)
    // a few are held for whoever reports them; a flood of garbage connections is dropped, not kept
    const turnedAway = yield* Queue.dropping<TurnedAway>(8)
    // Connections still in their TLS handshake, by their address pair. Closing the listener ends them
    // too: one that finished after the close went into a queue nobody takes from any more, and stayed open for
    // good (its peer, waiting for the first word, with it).
    const inHandshake = new Map<string, { readonly raw: net.Socket; readonly timer: NodeJS.Timeout }>()
    const keyOf = (s: net.Socket) => `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`
    let closed = false
    const onSecure = (socket: tls.TLSSocket) => {
      const entry = inHandshake.get(keyOf(socket))
      if (entry !== undefined) {
        clearTimeout(entry.timer)
        inHandshake.delete(keyOf(socket))
      }
      prepare(socket)
      // a flood of connections must not grow the backlog: beyond the queue's room they are dropped
      if (closed || !Queue.unsafeOffer(accepted, socket)) socket.destroy()
    }
    // TLS through a tls.Server that listens nowhere, fed the connections our TCP listener takes: a TLSSocket
    // made by hand on the server side never reports a failure after its handshake (node releases its errors
    // only to a tls.Server's sockets), so altered bytes in transit left the connection open and silent until
    // the heartbeat gave up, where the other side read OpenSSL's "bad record mac" at once.
    const tlsServer = Effect.runPromise(
      Effect.map(certificate.identity, (id) => {
        const server = tls.createServer({ key: id.keyPem, cert: id.certPem, ca: NO_AUTHORITIES })
        server.on("secureConnection", onSecure)
        // garbage instead of TLS ends that one connection, never the listener
        server.on("tlsClientError", (e, socket) => {
          const detail = notTlsDetail(e)
          if (!closed && detail !== undefined) {
            Queue.unsafeOffer(turnedAway, { remote: remoteOf(socket), error: new TransportError({ reason: "Read", detail }) })
          }
          socket.destroy()
        })
        return server
      })
    )
    tlsServer.catch(() => {})
    const onConnection = (raw: net.Socket) => {
      if (closed) return void raw.destroy()
      const key = keyOf(raw)
      // a silent client, or one that never finishes TLS, is cut at the deadline
      inHandshake.set(key, { raw, timer: setTimeout(() => raw.destroy(), TLS_HANDSHAKE_TIMEOUT_MS) })
      raw.on("error", () => raw.destroy())
      raw.on("close", () => {
        const entry = inHandshake.get(key)
        if (entry?.raw !== raw) return
        clearTimeout(entry.timer)
        inHandshake.delete(key)
      })
      tlsServer.then(
        (server) => {
          if (!raw.destroyed) server.emit("connection", raw)
        },
        () => raw.destroy()
      )
    }
    // `close` and the scope's end alike: secured sockets that nobody took are closed too (each stayed open for
    // good, its peer waiting for the first word)
    const shut = (server: net.Server) =>
      Effect.sync(() => {
        closed = true
        server.close()
        Effect.runSync(Queue.shutdown(turnedAway))
        for (const { raw, timer } of inHandshake.values()) {
          clearTimeout(timer)
          raw.destroy()
        }
        inHandshake.clear()
      }).pipe(
        Effect.zipRight(Queue.takeAll(accepted)),
        Effect.map((pending) => {
          for (const s of pending) if (s !== LISTENER_CLOSED) s.destroy()
          Queue.unsafeOffer(accepted, LISTENER_CLOSED)
        })
      )
    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server, ListenError>((resume) => {
        const server = net.createServer(onConnection)
        server.maxConnections = MAX_CONNECTIONS
        const onError = (e: Error) => resume(Effect.fail(new ListenError({ ...on, reason: listenReason(e), detail: e.message })))
        server.once("error", onError)
        server.listen({ host: on.host, port: on.port, exclusive: true }, () => {
          server.off("error", onError)
          server.on("error", () => {})
          resume(Effect.succeed(server))
        })
      }),
      shut
    )
    const address = server.address() as net.AddressInfo
    const listener: Listener = {
      address: { host: address.address, port: address.port },
      accept: Effect.acquireRelease(
        Effect.flatMap(Effect.interruptible(Queue.take(accepted)), (socket) =>
          socket === LISTENER_CLOSED
            ? Effect.zipRight(Queue.offer(accepted, socket), Effect.fail(listenerClosed()))
            : Effect.succeed(socket)
        ),
        (socket) => Effect.sync(() => socket.destroy())
      ).pipe(Effect.map(fromSocket)),
      close: shut(server),
      turnedAway: Queue.take(turnedAway)
    }
    return listener
  })

/** TLS over TCP through node:tls. Needs the listener's certificate. */
export const layer: Layer.Layer<Transport, never, Certificate> = Layer.effect(
  Transport,
  // the service alone is kept, not the whole context the layer was built in: provided inside a scope, that
  // context holds the scope, which then stood in for each caller's (a listener lived as long as the layer)
  Effect.map(Certificate, (certificate) =>
    Transport.of({
      connect: (to, options) => connect(to, options),
      listen: (on) => listen(on, certificate),
      resolve: firstAddress,
      localAddressTo: routeAddress
    })
  )
)
