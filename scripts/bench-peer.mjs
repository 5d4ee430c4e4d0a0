// One side of a benchmark, run as its own process by scripts/bench.mjs. Prints one JSON line with results.
//   node scripts/bench-peer.mjs ROLE PORT COUNT SIZE [PROTOCOL] [WINDOW]
// WINDOW (receivers): also report the rate over the first and the last WINDOW messages (cold and warmed up).
// The sessions run with the library's defaults, heartbeats included (every 5 s, as the CLI's), as they ship.
// Roles: recv / send (p2pchat sessions), raw-recv / raw-send (node:tls, same framing, no end-to-end layer),
//        echo / ping (latency), raw-echo / raw-ping, hs-server / hs-client (handshakes).
import { Deferred, Effect, Layer, Stream } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as tls from "node:tls"
import * as v8 from "node:v8"
import * as P2pchat from "../dist/lib/index.js"
import { encodeFrames, FrameDecoder } from "../dist/lib/domain/frame.js"

const [role, portText, countText, sizeText, protocol = "v2", windowText = "0"] = process.argv.slice(2)
const port = Number(portText)
const count = Number(countText)
const size = Number(sizeText)
const host = "127.0.0.1"
const text = "x".repeat(size)
const now = () => performance.now()
/** CPU time of the whole process (all threads: garbage collection and the thread pool count too), in µs. */
const cpuNow = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}
const window = Number(windowText)

/** Times the arrival of `count` messages of `size` bytes: whole run, and the first and last `window`. */
const arrivals = () => {
  const at = []
  let cpu0 = 0
  let cpuUs = 0
  let n = 0
  return {
    get done() {
      return n >= count
    },
    arrive: () => {
      n++
      if (n === 1) cpu0 = cpuNow()
      if (n === 1 || n === window || n === count - window || n === count) at[n] = now()
      if (n === count) cpuUs = cpuNow() - cpu0
    },
    result: () => {
      const rate = (k, from, to) => ({ rate: k / ((to - from) / 1000), mbPerSec: (k * size) / ((to - from) / 1000) / 1e6 })
      const whole = rate(n, at[1], at[n])
      return {
        messages: n,
        seconds: (at[n] - at[1]) / 1000,
        ...whole,
        cpuUsPerMessage: cpuUs / Math.max(1, n - 1),
        ...(window > 1 && window < count ? { first: rate(window, at[1], at[window]), last: rate(window, at[count - window], at[count]) } : {})
      }
    }
  }
}
/**
 * What the resident memory is made of now (Linux only): pages of node's own binary and libraries mapped from
 * disk, the V8 heap actually in memory (of it the young generation), and the rest of the anonymous memory
 * (malloc: OpenSSL, buffers' backing stores, compiler zones; thread stacks).
 */
const rssParts = () => {
  let status
  try {
    status = fs.readFileSync("/proc/self/status", "utf8")
  } catch {
    return undefined
  }
  const mb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.physical_space_size ?? 0
  const heap = v8.getHeapStatistics().total_physical_size
  return { hwmMb: mb("VmHWM"), rssMb: mb("VmRSS"), fileMb: mb("RssFile"), anonMb: mb("RssAnon"), v8HeapMb: heap / 2 ** 20, youngMb: young / 2 ** 20 }
}
// Peak RSS: the kernel's high-water mark of this process image (Linux). getrusage's maxRSS (the fallback)
// also counts the RSS of the forked copy of the parent before exec: spawned from a 90 MB benchmark process,
// `node -e 0` "peaks" at 90 MB (measured).
const report = (o) => {
  const parts = rssParts()
  console.log(JSON.stringify({ ...o, maxRssMb: parts?.hwmMb ?? process.resourceUsage().maxRSS / 1024, rssParts: parts, mem: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 2 ** 20)])) }))
}
const listening = (events) =>
  Effect.sync(() => {
    for (const e of events) if (e._tag === "listening") console.log(JSON.stringify({ listening: e.port }))
  })
const stack = P2pchat.layer({ protocol })
const run = (effect, layer = stack) =>
  Effect.runPromise(effect.pipe(Effect.scoped, Effect.provide(layer))).catch((e) => {
    console.error(e?._tag ? P2pchat.describeError(e) : e)
    process.exit(1)
  })

const identity = () => Effect.runPromise(P2pchat.ForgeCertificate.generateIdentity("bench"))

switch (role) {
  case "recv":
    // counts texts as the CLI takes them, through `onEvents` (docs/performance.md says why not `Stream.runForEach`)
    await run(
      Effect.gen(function* () {
        const clock = arrivals()
        const s = yield* P2pchat.open({
          mode: "server",
          listen: { host, port },
          onEvents: (events) =>
            Effect.zipRight(
              listening(events),
              Effect.sync(() => {
                for (const e of events) if (e._tag === "message") clock.arrive()
              })
            )
        })
        yield* s.outcome
        report(clock.result())
      })
    )
    break
  case "send":
    await run(
      Effect.gen(function* () {
        // receipts counted through `onEvents`, as the CLI takes events
        const allDelivered = yield* Deferred.make()
        let delivered = 0
        const s = yield* P2pchat.open({
          mode: "client",
          target: { host, port },
          onEvents: (events) =>
            Effect.suspend(() => {
              for (const e of events) if (e._tag === "delivered") delivered++
              return delivered >= count ? Deferred.succeed(allDelivered, undefined) : Effect.void
            })
        })
        const cpu0 = cpuNow()
        for (let i = 0; i < count; i++) yield* s.send(text)
        yield* Deferred.await(allDelivered)
        const cpuUsPerMessage = (cpuNow() - cpu0) / count
        yield* s.leave({ drainMs: 30_000 })
        yield* s.outcome
        report({ delivered, cpuUsPerMessage })
      })
    )
    break
  case "echo":
    await run(
      Effect.gen(function* () {
        const s = yield* P2pchat.open({ mode: "server", listen: { host, port }, onEvents: listening })
        yield* Stream.runForEach(s.messages, (m) => Effect.ignore(s.send(m.text)))
        report({})
      })
    )
    break
  case "ping":
    await run(
      Effect.gen(function* () {
        const s = yield* P2pchat.open({ mode: "client", target: { host, port } })
        const rtts = []
        const replies = yield* Effect.map(Stream.toPull(s.messages), (pull) => pull)
        for (let i = 0; i < count; i++) {
          const t0 = now()
          yield* s.send(text)
          yield* replies
          rtts.push(now() - t0)
        }
        yield* s.leave()
        yield* s.outcome
        report({ rtts })
      })
    )
    break
  case "hs-server": {
    // The certificate is made before the port is said, as the raw TLS server's is: a listener makes its key
    // as it starts listening and the first connection waits for it (0.1-0.9 s on a slow VM), which the first of the
    // handshakes timed here took for its own.
    const id = await identity()
    const certificate = Layer.succeed(P2pchat.Certificate, { identity: Effect.succeed(id) })
    await run(
      Effect.gen(function* () {
        let bound = port
        for (let i = 0; i < count; i++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* P2pchat.open({
                mode: "server",
                listen: { host, port: bound },
                // the first listener picks the port; the next ones reuse it
                onEvents: (events) => (bound === 0 ? Effect.zipRight(Effect.sync(() => (bound = events.find((e) => e._tag === "listening")?.port ?? 0)), listening(events)) : Effect.void)
              })
              yield* s.outcome
            })
          )
        }
        report({})
      }),
      Layer.merge(P2pchat.NodeTlsTransport.layer.pipe(Layer.provide(certificate)), P2pchat.protocolLayer({ protocol }))
    )
    break
  }
  case "hs-client":
    await run(
      Effect.gen(function* () {
        const times = []
        for (let i = 0; i < count; i++) {
          let start = 0
          yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* P2pchat.open({
                mode: "client",
                target: { host, port },
                connectFor: "10 seconds",
                onEvents: (events) =>
                  Effect.sync(() => {
                    for (const e of events) if (e._tag === "connecting") start = now()
                  })
              })
              times.push(now() - start)
              yield* s.leave()
              yield* s.outcome
            })
          )
          yield* Effect.sleep("20 millis")
        }
        report({ times })
      })
    )
    break
  case "raw-recv":
  case "raw-echo": {
    const id = await identity()
    const server = tls.createServer({ key: id.keyPem, cert: id.certPem }, (socket) => {
      socket.setNoDelay(true)
      const decoder = new FrameDecoder()
      const clock = arrivals()
      socket.on("data", (chunk) => {
        decoder.push(chunk)
        const out = []
        for (let f = decoder.next(); f instanceof Uint8Array; f = decoder.next()) {
          clock.arrive()
          if (role === "raw-echo") out.push(f)
        }
        if (out.length > 0) socket.write(encodeFrames(out))
        if (role === "raw-recv" && clock.done) {
          report(clock.result())
          socket.end()
          server.close()
        }
      })
      socket.on("end", () => role === "raw-echo" && (report({}), server.close()))
    })
    server.listen(port, host, () => console.log(JSON.stringify({ listening: server.address().port })))
    break
  }
  case "raw-send": {
    let cpu0 = 0
    const socket = tls.connect({ host, port, rejectUnauthorized: false }, async () => {
      socket.setNoDelay(true)
      cpu0 = cpuNow()
      const body = Buffer.from(text)
      // up to 512 frames a write, as many as fit in 256 KiB: 512 frames of 64 KiB made each write a fresh 32 MiB
      // buffer, and on a VM whose page faults cost much that held raw TLS's bulk under p2pchat's own
      const batch = Math.max(1, Math.min(512, Math.floor((256 * 1024) / body.length)))
      for (let sent = 0; sent < count; ) {
        const k = Math.min(batch, count - sent)
        const ok = socket.write(encodeFrames(Array.from({ length: k }, () => body)))
        sent += k
        if (!ok) await new Promise((r) => socket.once("drain", r))
      }
    })
    // the receiver ends the stream once it has every frame
    socket.on("end", () => {
      report({ cpuUsPerMessage: (cpuNow() - cpu0) / count })
      socket.end()
    })
    break
  }
  case "raw-ping": {
    const socket = tls.connect({ host, port, rejectUnauthorized: false }, () => {
      socket.setNoDelay(true)
      const decoder = new FrameDecoder()
      const rtts = []
      let t0 = now()
      const body = Buffer.from(text)
      socket.write(encodeFrames([body]))
      socket.on("data", (chunk) => {
        decoder.push(chunk)
        for (let f = decoder.next(); f instanceof Uint8Array; f = decoder.next()) {
          rtts.push(now() - t0)
          if (rtts.length >= count) {
            report({ rtts })
            socket.end()
            return
          }
          t0 = now()
          socket.write(encodeFrames([body]))
        }
      })
    })
    break
  }
  case "raw-hs-server": {
    const id = await identity()
    let n = 0
    const server = tls.createServer({ key: id.keyPem, cert: id.certPem }, (socket) => {
      socket.end()
      if (++n >= count) server.close(() => report({}))
    })
    server.listen(port, host, () => console.log(JSON.stringify({ listening: server.address().port })))
    break
  }
  case "raw-hs-client": {
    const times = []
    for (let i = 0; i < count; i++) {
      const t0 = now()
      await new Promise((resolve, reject) => {
        const s = tls.connect({ host, port, rejectUnauthorized: false }, () => {
          times.push(now() - t0)
          s.on("close", resolve)
          s.end()
        })
        s.on("error", reject)
      })
    }
    report({ times })
    break
  }
  default:
    console.error(`unknown role ${role}`)
    process.exit(2)
}
void crypto
