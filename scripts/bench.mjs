// npm run bench [-- --quick] [-- --json]
// Every figure is measured beside its baseline in the same run, sender and receiver as separate processes over
// TLS on 127.0.0.1; several runs each, median and min-max. Nothing here is asserted by the tests.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { Effect } from "effect"
import * as P2pchat from "../dist/lib/index.js"
import { frame } from "../dist/lib/layers/LengthPrefixFraming.js"
import { bundle } from "./bundle.mjs"
import { duel as duelOf, spawnPeer as spawnPeerOf, stats, stopPeers, track } from "./peers.mjs"

const args = new Set(process.argv.slice(2))
const quick = args.has("--quick")
const asJson = args.has("--json")
const here = path.dirname(new URL(import.meta.url).pathname)
// The peers run bundled, as the CLI does (and as an application embedding the library would ship): the
// unbundled module graph of effect alone costs about 40 MB of RSS and a slower start.
const peerScript = path.join(here, "../dist/bench-peer.mjs")
await bundle(path.join(here, "bench-peer.mjs"), peerScript)
const cli = path.join(here, "../dist/p2pchat.mjs")
// A CLI listener makes its certificate's key as it starts, in the thread pool, and takes connections before the
// key is made (start-up below measures both moments): a client started at once would wait up to most of a
// second for it. The listeners of the CLI runs timed from a client's start (a first handshake, a pipe) are given
// a certificate made here instead (-k/-c), as a listener started a while before has one.
/** A CLI that only listens, on 127.0.0.1 at a free port, its events as JSON lines (their arguments). */
const LISTENER_ARGS = ["--json", "-m", "2", "-i", "127.0.0.1", "-p", "0"]
/** The port a listening CLI's JSON output says, once it has said it. */
const listeningPort = (text) => {
  const m = /"listening".*?"port":(\d+)/.exec(text)
  return m === null ? undefined : Number(m[1])
}
/** Temporary directories of this run: removed as it exits, also when stopped by Ctrl-C or a kill. */
const tempDirs = new Set()
const tempDir = (prefix) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}
const removeTempDir = (dir) => (fs.rmSync(dir, { recursive: true, force: true }), tempDirs.delete(dir))
// the peers and CLIs it started go with it: a listening one would otherwise wait for its counterpart for good
process.once("exit", () => (stopPeers(), tempDirs.forEach(removeTempDir)))
// a signal ends node without its "exit" event: exit instead, as the signal would, so that the above runs
process.once("SIGINT", () => process.exit(130))
process.once("SIGTERM", () => process.exit(143))

const listenerTls = await (async () => {
  const dir = tempDir("p2pchat-bench-tls-")
  const id = await Effect.runPromise(P2pchat.ForgeCertificate.generateIdentity("bench"))
  fs.writeFileSync(path.join(dir, "key.pem"), id.keyPem, { mode: 0o600 })
  fs.writeFileSync(path.join(dir, "cert.pem"), id.certPem)
  return ["-k", path.join(dir, "key.pem"), "-c", path.join(dir, "cert.pem")]
})()

const RUNS = quick ? 1 : 3
const RATE_COUNT = quick ? 2_000 : 100_000
const SEED_COUNT = quick ? 100 : 2_000
const BULK_SIZE = 64 * 1024
// the issue's figure is 256 MiB (4096 x 64 KiB) from a cold start: the first 4096 messages of a 1 GiB run, whose
// last 4096 show the same code warmed up (the JIT takes a few hundred megabytes to optimise the hot paths)
const BULK_COUNT = quick ? 256 : 16_384
const BULK_WINDOW = quick ? 64 : 4096
const mib = (messages) => `${(messages * BULK_SIZE) / 2 ** 20} MiB`
const PING_COUNT = quick ? 100 : 2_000
const HS_COUNT = quick ? 5 : 30
// the handshake again through a relay on 127.0.0.1 that holds every chunk this long each way: round trips, which
// loopback hides, then show (TCP's own handshake is not delayed: the relay takes the connection itself)
const LINK_DELAY_MS = 5
const HS_LINK_COUNT = quick ? 3 : 10
const START_RUNS = quick ? 2 : 12
// "pipe files through it": lines of this many bytes (the message limit is 65,536), one CLI to another
const PIPE_LINE_BYTES = 65_000
const PIPE_LINES = quick ? 64 : 4096
// "keep it open all day": a burst of lines between two CLIs, then this long without a message
const BURST_LINES = quick ? 2_000 : 100_000
const QUIET_MS = quick ? 6_000 : 40_000

const log = (s) => asJson || process.stderr.write(s + "\n")

const spawnPeer = (...args) => spawnPeerOf(peerScript, ...args)
const duel = (...args) => duelOf(peerScript, ...args)

/** A TCP relay on 127.0.0.1 to `targetPort` that delays every chunk `delayMs` each way, in order. */
const delayRelay = (targetPort, delayMs) =>
  new Promise((resolve) => {
    const sockets = new Set()
    const server = net.createServer((a) => {
      const b = net.connect(targetPort, "127.0.0.1")
      for (const s of [a, b]) {
        s.setNoDelay(true)
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
        s.on("error", () => {})
      }
      // timers of one duration fire in the order they were set: the bytes keep theirs
      const forward = (from, to) => {
        from.on("data", (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs))
        from.on("end", () => setTimeout(() => to.end(), delayMs))
        from.on("close", () => setTimeout(() => to.destroy(), delayMs))
      }
      forward(a, b)
      forward(b, a)
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: server.address().port,
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        }
      })
    )
  })

/** `duel` with the client reaching the server through a `delayRelay`. */
const duelOverLink = async (serverRole, clientRole, count, protocol, delayMs) => {
  const server = await spawnPeer(serverRole, 0, count, 0, protocol)
  const relay = await delayRelay(server.port, delayMs)
  try {
    const client = await spawnPeer(clientRole, relay.port, count, 0, protocol)
    const [s, c] = await Promise.all([server.result, client.result])
    return { server: s, client: c }
  } finally {
    relay.close()
  }
}

const repeat = async (n, f) => {
  const out = []
  for (let i = 0; i < n; i++) out.push(await f())
  return out
}

/**
 * The in-process ceiling: seal + open of the same messages with two linked v2 sessions, no I/O. `batch` 1 is one
 * frame per text; larger batches frame them as the chat does when texts queue up (sendMany).
 */
const cryptoCeiling = (count, size, batch = 1) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const [c, l] = yield* P2pchat.MemoryTransport.makePair({ host: "a", port: 1 }, { host: "b", port: 2 })
      const primitives = {
        aead: P2pchat.NodeCryptoCipher.aead,
        kdf: P2pchat.NodeCryptoKeySchedule.kdf,
        ecdh: P2pchat.NodeCryptoKeyAgreement.ecdh,
        random: (n) => new Uint8Array(n).map(() => Math.random() * 256)
      }
      const [a, b] = yield* Effect.all(
        [P2pchat.V2Protocol.handshake(primitives, frame(c), "connector"), P2pchat.V2Protocol.handshake(primitives, frame(l), "listener")],
        { concurrency: 2 }
      )
      const text = "x".repeat(size)
      const t0 = performance.now()
      if (batch === 1) for (let i = 0; i < count; i++) b.receive(a.send(String(i), text).frames[0])
      else
        for (let i = 0; i < count; i += batch) {
          const items = Array.from({ length: Math.min(batch, count - i) }, (_, k) => ({ id: String(i + k), text }))
          for (const f of a.sendMany(items).frames) b.receive(f)
        }
      return count / ((performance.now() - t0) / 1000)
    })
  )

/** `node -e 0` from its spawn to its exit: the start-up figures' baseline. */
const nodeE0Startup = async (env = process.env) => {
  const t0 = performance.now()
  await new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, ["-e", "0"], { stdio: ["pipe", "pipe", "ignore"], env }))
    child.on("exit", () => resolve())
    child.on("error", reject)
  })
  return performance.now() - t0
}

/**
 * A new CLI listener's start-up, two moments from its spawn: its `listening` line, and a TLS handshake with it
 * done, which needs its certificate. The listener takes TCP connections at once and makes its key in the
 * thread pool meanwhile, so the line comes first: a peer that connects before the key is made waits for it.
 */
const cliStartup = (env = process.env) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = track(spawn(process.execPath, [cli, ...LISTENER_ARGS], { stdio: ["pipe", "pipe", "ignore"], env }))
    child.stdin.on("error", () => {})
    let out = ""
    let listening
    const fail = (e) => (child.kill(), reject(e))
    child.stdout.on("data", (d) => {
      out += d
      const port = listeningPort(out)
      if (port === undefined || listening !== undefined) return
      listening = performance.now() - t0
      // a peer's connection, as soon as the port is known; the chain is not checked (nor is it by p2pchat)
      const probe = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
        const ready = performance.now() - t0
        probe.destroy()
        child.kill()
        resolve({ listening, ready })
      })
      probe.on("error", fail)
    })
    child.on("error", fail)
    child.on("exit", () => listening === undefined && reject(new Error("start-up: the CLI exited before listening")))
  })

/**
 * A new CLI client's handshake, as a person starting `p2pchat -t` meets it: from its `connecting` event to its
 * `handshake` (the safety code), against a CLI that has been listening for half a second (its certificate given).
 * Both processes are new, so nothing is warm: the handshakes above run one after another in one process.
 */
const cliFirstHandshake = async (env = process.env) => {
  const listener = track(spawn(process.execPath, [cli, ...LISTENER_ARGS, ...listenerTls], { stdio: ["pipe", "pipe", "ignore"], env }))
  listener.stdin.on("error", () => {})
  try {
    const port = await new Promise((resolve, reject) => {
      let out = ""
      listener.stdout.on("data", (d) => {
        out += d
        const port = listeningPort(out)
        if (port !== undefined) resolve(port)
      })
      listener.on("exit", () => reject(new Error("CLI first handshake: the listener exited before listening")))
    })
    await sleep(500)
    const out = await new Promise((resolve, reject) => {
      const client = track(spawn(process.execPath, [cli, "--json", "-m", "1", "-t", `127.0.0.1:${port}`], { stdio: ["pipe", "pipe", "ignore"], env }))
      let text = ""
      client.stdout.on("data", (d) => (text += d))
      client.on("error", reject)
      client.on("exit", () => resolve(text))
      client.stdin.end("/quit\n")
    })
    const events = out.trim().split("\n").map((l) => JSON.parse(l))
    const at = (name) => {
      const e = events.find((x) => x.event === name)
      if (e === undefined) throw new Error(`CLI first handshake: no ${name} event`)
      return Date.parse(e.at)
    }
    return at("handshake") - at("connecting")
  } finally {
    if (listener.exitCode === null) listener.kill()
  }
}

/**
 * Resident memory of a process now (VmRSS), or its peak so far (VmHWM), in MB (Linux; undefined elsewhere or
 * once it is gone).
 */
const residentMb = (pid, field = "VmRSS") => {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024
  } catch {
    return undefined
  }
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A CLI in --json mode whose events are counted; its stdin stays open until `done`. */
const cliProcess = (args) => {
  const child = track(spawn(process.execPath, [cli, "--json", ...args], { stdio: ["pipe", "pipe", "ignore"] }))
  const seen = { handshake: 0, message: 0, delivered: 0, port: undefined }
  const waiters = new Set()
  let buffer = ""
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (d) => {
    buffer += d
    let nl
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const e = JSON.parse(buffer.slice(0, nl))
      buffer = buffer.slice(nl + 1)
      if (e.event === "listening") seen.port = e.port
      if (e.event in seen) seen[e.event]++
    }
    for (const w of waiters) w()
  })
  child.stdin.on("error", () => {})
  const exited = new Promise((resolve) => child.on("exit", resolve))
  const until = (predicate) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`CLI burst: timed out (${JSON.stringify(seen)})`)), 120_000)
      const check = () => predicate(seen) && (clearTimeout(timer), waiters.delete(check), resolve())
      waiters.add(check)
      check()
    })
  return { child, seen, until, done: () => (child.stdin.end(), exited) }
}

/**
 * `p2pchat --json -m 1 ... < file` into a listening `p2pchat --json`: seconds from starting the sender to both
 * having exited (its start-up, handshake, the wait for the last receipts and the goodbye included), and how
 * many `message` events the receiver printed (counted in its output as it streams by, not kept). `plain`: the
 * sender without `--json`, its output the plain view's lines (to /dev/null, as a file would take them).
 */
const cliPipe = async (lines, lineBytes, plain = false) => {
  const dir = tempDir("p2pchat-bench-")
  let receiver
  try {
    const input = path.join(dir, "lines.txt")
    const fd = fs.openSync(input, "w")
    const line = Buffer.from("x".repeat(lineBytes) + "\n")
    for (let i = 0; i < lines; i++) fs.writeSync(fd, line)
    fs.closeSync(fd)
    receiver = track(spawn(process.execPath, [cli, ...LISTENER_ARGS, ...listenerTls], { stdio: ["pipe", "pipe", "ignore"] }))
    receiver.stdin.on("error", () => {})
    const marker = Buffer.from('{"event":"message"')
    let tail = Buffer.alloc(0)
    let messages = 0
    let port
    receiver.stdout.on("data", (chunk) => {
      const b = Buffer.concat([tail, chunk])
      if (port === undefined) port = listeningPort(b.toString("latin1", 0, Math.min(b.length, 4096)))
      for (let i = b.indexOf(marker); i >= 0; i = b.indexOf(marker, i + marker.length)) messages++
      // a marker cut by the chunk boundary is found in the next round, and none is counted twice
      tail = b.subarray(Math.max(0, b.length - marker.length + 1))
    })
    const receiverExit = new Promise((resolve) => receiver.on("exit", resolve))
    for (let i = 0; i < 500 && port === undefined; i++) await sleep(20)
    if (port === undefined) throw new Error("CLI pipe: the receiver did not listen")
    const t0 = performance.now()
    const stdin = fs.openSync(input, "r")
    const sender = track(spawn(process.execPath, [cli, ...(plain ? [] : ["--json"]), "-m", "1", "-t", `127.0.0.1:${port}`], {
      stdio: [stdin, "ignore", "ignore"]
    }))
    // the sender has its own copy of the descriptor
    fs.closeSync(stdin)
    // each CLI's peak resident memory, as the kernel counts it (VmHWM only grows): the last reading before it exits
    const peak = { sender: undefined, receiver: undefined }
    const watch = setInterval(() => {
      peak.sender = residentMb(sender.pid, "VmHWM") ?? peak.sender
      peak.receiver = residentMb(receiver.pid, "VmHWM") ?? peak.receiver
    }, 25)
    const [senderCode] = await Promise.all([new Promise((resolve) => sender.on("exit", resolve)), receiverExit]).finally(() => clearInterval(watch))
    const seconds = (performance.now() - t0) / 1000
    if (senderCode !== 0 || messages !== lines) throw new Error(`CLI pipe: ${messages} of ${lines} lines arrived (sender exit ${senderCode})`)
    return { seconds, mbPerSec: (lines * lineBytes) / seconds / 1e6, peakRssMb: peak }
  } finally {
    // a receiver left behind by a failed run must not hold its port or the machine
    if (receiver !== undefined && receiver.exitCode === null) receiver.kill()
    removeTempDir(dir)
  }
}

/**
 * Two CLIs as a script runs them: connected and idle, then `lines` short lines from one to the other (all
 * shown and receipted), then quiet for `quietMs`. The resident memory of both at each of the three points.
 */
const burstThenQuiet = async (lines, quietMs) => {
  const listener = cliProcess(["-m", "2", "-i", "127.0.0.1", "-p", "0"])
  await listener.until((s) => s.port !== undefined)
  const client = cliProcess(["-m", "1", "-t", `127.0.0.1:${listener.seen.port}`])
  await Promise.all([listener.until((s) => s.handshake > 0), client.until((s) => s.handshake > 0)])
  await sleep(1_000)
  const at = () => ({ receiver: residentMb(listener.child.pid), sender: residentMb(client.child.pid) })
  const idle = at()
  let text = ""
  for (let i = 0; i < lines; i++) text += `line ${i} of a script's burst, a few words long\n`
  client.child.stdin.write(text)
  await Promise.all([listener.until((s) => s.message >= lines), client.until((s) => s.delivered >= lines)])
  const burst = at()
  await sleep(quietMs)
  const quiet = at()
  await client.done()
  await listener.done()
  return { idle, burst, quiet }
}

/** Medians of each part of the resident memory (see bench-peer's rssParts), with "other": anonymous outside V8. */
const partsOf = (all) => {
  const median = (f) => stats(all.map(f)).median
  return {
    rssMb: median((p) => p.rssMb),
    fileMb: median((p) => p.fileMb),
    v8HeapMb: median((p) => p.v8HeapMb),
    youngMb: median((p) => p.youngMb),
    otherMb: median((p) => p.anonMb - p.v8HeapMb)
  }
}

const results = {}
const record = (name, value) => (results[name] = value)

log(`p2pchat benchmark (${quick ? "quick" : "full"}): ${os.cpus()[0]?.model ?? "cpu"} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`)

log("v2 one-way rate ...")
const v2Rate = await repeat(RUNS, () => duel("recv", "send", RATE_COUNT, 100, "v2"))
const rawRate = await repeat(RUNS, () => duel("raw-recv", "raw-send", RATE_COUNT, 100))
const ceiling = await repeat(RUNS, () => cryptoCeiling(RATE_COUNT, 100))
const batchedCeiling = await repeat(RUNS, () => cryptoCeiling(RATE_COUNT, 100, 256))
record("v2Rate", {
  unit: "msg/s",
  ...stats(v2Rate.map((r) => r.server.rate)),
  rawTls: stats(rawRate.map((r) => r.server.rate)),
  cryptoCeiling: stats(ceiling),
  batchedCryptoCeiling: stats(batchedCeiling)
})
// the raw TLS peers run from the same bundle, so their peak shows what loading it and moving the bytes cost alone
record("peakRss", {
  unit: "MB",
  receiver: stats(v2Rate.map((r) => r.server.maxRssMb)),
  sender: stats(v2Rate.map((r) => r.client.maxRssMb)),
  rawTls: { receiver: stats(rawRate.map((r) => r.server.maxRssMb)), sender: stats(rawRate.map((r) => r.client.maxRssMb)) },
  // what it is made of at the end of the run, where the peak usually is (Linux; absent elsewhere)
  ...(v2Rate.every((r) => r.server.rssParts && r.client.rssParts)
    ? { parts: { receiver: partsOf(v2Rate.map((r) => r.server.rssParts)), sender: partsOf(v2Rate.map((r) => r.client.rssParts)) } }
    : {})
})

log("seed one-way rate ...")
const seedRate = await repeat(RUNS, () => duel("recv", "send", SEED_COUNT, 100, "seed"))
record("seedRate", { unit: "msg/s", ...stats(seedRate.map((r) => r.server.rate)), rawTls: results.v2Rate.rawTls })

log("v2 bulk ...")
const bulk = await repeat(RUNS, () => duel("recv", "send", BULK_COUNT, BULK_SIZE, "v2", BULK_WINDOW))
const rawBulk = await repeat(RUNS, () => duel("raw-recv", "raw-send", BULK_COUNT, BULK_SIZE, "v2", BULK_WINDOW))
record("v2Bulk", {
  unit: "MB/s",
  ...stats(bulk.map((r) => r.server.first.mbPerSec)),
  rawTls: stats(rawBulk.map((r) => r.server.first.mbPerSec)),
  warm: { ...stats(bulk.map((r) => r.server.last.mbPerSec)), rawTls: stats(rawBulk.map((r) => r.server.last.mbPerSec)) },
  // where a 64 KiB message's budget goes (whole run): two processes share the machine's cores
  cpuUsPerMessage: {
    receiver: stats(bulk.map((r) => r.server.cpuUsPerMessage)),
    sender: stats(bulk.map((r) => r.client.cpuUsPerMessage)),
    rawReceiver: stats(rawBulk.map((r) => r.server.cpuUsPerMessage)),
    rawSender: stats(rawBulk.map((r) => r.client.cpuUsPerMessage))
  },
  peakRssMb: { receiver: stats(bulk.map((r) => r.server.maxRssMb)), sender: stats(bulk.map((r) => r.client.maxRssMb)) }
})

log("latency ...")
const ping = await duel("echo", "ping", PING_COUNT, 100, "v2")
const rawPing = await duel("raw-echo", "raw-ping", PING_COUNT, 100)
record("v2Latency", { unit: "ms", ...stats(ping.client.rtts), rawTls: stats(rawPing.client.rtts) })

log("handshakes ...")
const hsV2 = await duel("hs-server", "hs-client", HS_COUNT, 0, "v2")
const hsSeed = await duel("hs-server", "hs-client", HS_COUNT, 0, "seed")
const hsRaw = await duel("raw-hs-server", "raw-hs-client", HS_COUNT, 0)
record("handshake", { unit: "ms", v2: stats(hsV2.client.times), seed: stats(hsSeed.client.times), rawTls: stats(hsRaw.client.times) })
log(`handshakes over a link of ${2 * LINK_DELAY_MS} ms round trips ...`)
const linkV2 = await duelOverLink("hs-server", "hs-client", HS_LINK_COUNT, "v2", LINK_DELAY_MS)
const linkSeed = await duelOverLink("hs-server", "hs-client", HS_LINK_COUNT, "seed", LINK_DELAY_MS)
const linkRaw = await duelOverLink("raw-hs-server", "raw-hs-client", HS_LINK_COUNT, undefined, LINK_DELAY_MS)
record("handshakeOverLink", {
  unit: "ms",
  roundTripMs: 2 * LINK_DELAY_MS,
  v2: stats(linkV2.client.times),
  seed: stats(linkSeed.client.times),
  rawTls: stats(linkRaw.client.times)
})

log("start-up ...")
const cliStart = await repeat(START_RUNS, () => cliStartup())
/** The listening line's figures (`cli`, as before the ready moment was measured) and the ready moment's. */
const startupStats = (starts) => ({ cli: stats(starts.map((s) => s.listening)), ready: stats(starts.map((s) => s.ready)) })
const nodeStart = await repeat(START_RUNS, () => nodeE0Startup())
// Node reads the file NODE_EXTRA_CA_CERTS names as it starts, before any code of ours (a distribution's bundle of
// 140 certificates: 50 ms here, for `node -e 0` too); where it is set, start-up is also measured without it
const { NODE_EXTRA_CA_CERTS: extraCaCerts, ...withoutExtraCaCerts } = process.env
const withoutExtraCa =
  extraCaCerts === undefined
    ? {}
    : {
        withoutExtraCaCerts: {
          ...startupStats(await repeat(START_RUNS, () => cliStartup(withoutExtraCaCerts))),
          nodeE0: stats(await repeat(START_RUNS, () => nodeE0Startup(withoutExtraCaCerts)))
        }
      }
const { cli: listeningStats, ready: readyStats } = startupStats(cliStart)
// the fields of `startup` itself are the listening line's (as in runs before `ready` was measured)
record("startup", { unit: "ms", ...listeningStats, ready: readyStats, nodeE0: stats(nodeStart), ...withoutExtraCa })

log("a new CLI's handshake ...")
const cliHandshakes = await repeat(START_RUNS, () => cliFirstHandshake())
record("cliFirstHandshake", {
  unit: "ms",
  ...stats(cliHandshakes),
  ...(extraCaCerts === undefined ? {} : { withoutExtraCaCerts: stats(await repeat(START_RUNS, () => cliFirstHandshake(withoutExtraCaCerts))) })
})

log("CLI pipe ...")
const pipes = await repeat(RUNS, () => cliPipe(PIPE_LINES, PIPE_LINE_BYTES))
const plainPipes = await repeat(RUNS, () => cliPipe(PIPE_LINES, PIPE_LINE_BYTES, true))
record("cliPipe", {
  unit: "MB/s",
  lines: PIPE_LINES,
  lineBytes: PIPE_LINE_BYTES,
  ...stats(pipes.map((p) => p.mbPerSec)),
  seconds: stats(pipes.map((p) => p.seconds)),
  peakRssMb: { sender: stats(pipes.map((p) => p.peakRssMb.sender ?? NaN)), receiver: stats(pipes.map((p) => p.peakRssMb.receiver ?? NaN)) },
  plainSender: { ...stats(plainPipes.map((p) => p.mbPerSec)), seconds: stats(plainPipes.map((p) => p.seconds)) }
})

log("CLI burst, then quiet ...")
// the pairs run side by side: the figure is memory, and one after another would take RUNS x the quiet time
const bursts = await Promise.all(Array.from({ length: RUNS }, () => burstThenQuiet(BURST_LINES, QUIET_MS)))
const memoryAt = (point) => ({
  receiver: stats(bursts.map((b) => b[point].receiver ?? NaN)),
  sender: stats(bursts.map((b) => b[point].sender ?? NaN))
})
record("cliQuietAfterBurst", { unit: "MB", lines: BURST_LINES, quietMs: QUIET_MS, idle: memoryAt("idle"), burst: memoryAt("burst"), quiet: memoryAt("quiet") })

// node -e 0's own peak, and how much of its memory is node's binary mapped from disk (Linux; the peak as the
// peers measure it, see bench-peer's report). Runs in the child, as source.
const nodeE0Probe = () => {
  let status
  try {
    status = require("fs").readFileSync("/proc/self/status", "utf8")
  } catch {}
  const mb = (field) => (status === undefined ? undefined : Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)[1]) / 1024)
  console.log(JSON.stringify({ maxRssMb: mb("VmHWM") ?? process.resourceUsage().maxRSS / 1024, fileMb: mb("RssFile") }))
}
const nodeE0 = await new Promise((resolve) => {
  const c = track(spawn(process.execPath, ["-e", `(${nodeE0Probe})()`]))
  let o = ""
  c.stdout.on("data", (d) => (o += d))
  c.on("exit", () => resolve(JSON.parse(o)))
})
const nodeRss = nodeE0.maxRssMb
results.peakRss.nodeE0 = nodeRss
if (nodeE0.fileMb !== undefined) results.peakRss.nodeE0FileMb = nodeE0.fileMb

// resident memory is read from /proc: "n/a" where there is none
const pair = (m) => (Number.isNaN(m.receiver.median) ? "n/a" : `${Math.round(m.receiver.median)} / ${Math.round(m.sender.median)} MB`)
const partsText = (p) =>
  `${Math.round(p.rssMb)} MB = ${Math.round(p.fileMb)} node code + ${Math.round(p.v8HeapMb)} V8 heap (${Math.round(p.youngMb)} young) + ${Math.round(p.otherMb)} other`

const targets = [
  ["v2 one-way rate, 100 B", `${Math.round(results.v2Rate.median)} msg/s`, `raw TLS ${Math.round(results.v2Rate.rawTls.median)}; crypto ceiling, one frame per text: ${Math.round(results.v2Rate.cryptoCeiling.median)} (${Math.round((100 * results.v2Rate.median) / results.v2Rate.cryptoCeiling.median)}%)`, "≥ 40,000 and ≥ 60% of ceiling", results.v2Rate.median >= 40_000 && results.v2Rate.median >= 0.6 * results.v2Rate.cryptoCeiling.median],
  // texts that queue up share a frame, so the same messages also have a batched ceiling: judged on its own row
  ["  ... vs batched ceiling", `${Math.round((100 * results.v2Rate.median) / results.v2Rate.batchedCryptoCeiling.median)}%`, `crypto ceiling, texts batched as the chat does: ${Math.round(results.v2Rate.batchedCryptoCeiling.median)}`, "≥ 60% of ceiling", results.v2Rate.median >= 0.6 * results.v2Rate.batchedCryptoCeiling.median],
  ["seed one-way rate, 100 B", `${Math.round(results.seedRate.median)} msg/s`, `raw TLS ${Math.round(results.v2Rate.rawTls.median)}; chat.py ~210`, "report", true],
  [`v2 bulk, 64 KiB, first ${mib(BULK_WINDOW)}`, `${Math.round(results.v2Bulk.median)} MB/s`, `raw TLS ${Math.round(results.v2Bulk.rawTls.median)} MB/s (${Math.round((100 * results.v2Bulk.median) / results.v2Bulk.rawTls.median)}%)`, "≥ 250 MB/s and ≥ 40% of raw", results.v2Bulk.median >= 250 && results.v2Bulk.median >= 0.4 * results.v2Bulk.rawTls.median],
  [`  ... warmed up (last ${mib(BULK_WINDOW)} of ${mib(BULK_COUNT)})`, `${Math.round(results.v2Bulk.warm.median)} MB/s`, `raw TLS ${Math.round(results.v2Bulk.warm.rawTls.median)} MB/s (${Math.round((100 * results.v2Bulk.warm.median) / results.v2Bulk.warm.rawTls.median)}%)`, "report", true],
  ["  ... CPU per message (recv / send)", `${Math.round(results.v2Bulk.cpuUsPerMessage.receiver.median)} / ${Math.round(results.v2Bulk.cpuUsPerMessage.sender.median)} µs`, `raw TLS ${Math.round(results.v2Bulk.cpuUsPerMessage.rawReceiver.median)} / ${Math.round(results.v2Bulk.cpuUsPerMessage.rawSender.median)} µs`, "report", true],
  ["v2 latency p50 / p99", `${results.v2Latency.p50.toFixed(2)} / ${results.v2Latency.p99.toFixed(2)} ms`, `raw TLS ${results.v2Latency.rawTls.p50.toFixed(2)} / ${results.v2Latency.rawTls.p99.toFixed(2)} ms`, "p99 ≤ 10 ms", results.v2Latency.p99 <= 10],
  ["handshake p50 (v2 / seed)", `${results.handshake.v2.p50.toFixed(1)} / ${results.handshake.seed.p50.toFixed(1)} ms`, `raw TLS ${results.handshake.rawTls.p50.toFixed(1)} ms`, "v2 p50 ≤ 15 ms", results.handshake.v2.p50 <= 15],
  [`  ... over a link of ${results.handshakeOverLink.roundTripMs} ms round trips (v2 / seed)`, `${results.handshakeOverLink.v2.p50.toFixed(1)} / ${results.handshakeOverLink.seed.p50.toFixed(1)} ms`, `raw TLS ${results.handshakeOverLink.rawTls.p50.toFixed(1)} ms (v2: TLS, then 2 round trips and its computing)`, "report", true],
  [
    "  ... v2, a new CLI client against a CLI listening (connecting → safety code)",
    `${Math.round(results.cliFirstHandshake.median)} ms`,
    results.cliFirstHandshake.withoutExtraCaCerts
      ? `without NODE_EXTRA_CA_CERTS (set here): ${Math.round(results.cliFirstHandshake.withoutExtraCaCerts.median)} ms`
      : "the handshakes above run one after another in one process",
    "report",
    true
  ],
  // judged on the moment a peer's TLS handshake can complete: the issue's "listening (certificate generated)"
  ["start → ready p50 (listening, certificate made)", `${Math.round(results.startup.ready.median)} ms`, `node -e 0: ${Math.round(results.startup.nodeE0.median)} ms`, "≤ 300 ms", results.startup.ready.median <= 300],
  ["  ... its listening line, before the key is made", `${Math.round(results.startup.median)} ms`, "TCP listens at once; a peer connecting sooner waits for the key", "report", true],
  ...(results.startup.withoutExtraCaCerts
    ? [["  ... without NODE_EXTRA_CA_CERTS (set here): ready / listening", `${Math.round(results.startup.withoutExtraCaCerts.ready.median)} / ${Math.round(results.startup.withoutExtraCaCerts.cli.median)} ms`, `node -e 0: ${Math.round(results.startup.withoutExtraCaCerts.nodeE0.median)} ms`, "report", true]]
    : []),
  ["peak RSS (recv / send)", `${Math.round(results.peakRss.receiver.median)} / ${Math.round(results.peakRss.sender.median)} MB`, `node -e 0: ${Math.round(nodeRss)} MB; raw TLS peers ${Math.round(results.peakRss.rawTls.receiver.median)} / ${Math.round(results.peakRss.rawTls.sender.median)} MB`, "≤ 80 MB", Math.max(results.peakRss.receiver.median, results.peakRss.sender.median) <= 80],
  ...(results.peakRss.parts
    ? [["  ... receiver's, at the end", partsText(results.peakRss.parts.receiver), results.peakRss.nodeE0FileMb === undefined ? "" : `node -e 0: ${Math.round(results.peakRss.nodeE0FileMb)} MB node code`, "report", true]]
    : []),
  [`CLI pipe, ${PIPE_LINES} lines of ${PIPE_LINE_BYTES} B, start to exit`, `${Math.round(results.cliPipe.median)} MB/s`, `the library's bulk, first ${mib(BULK_WINDOW)}: ${Math.round(results.v2Bulk.median)} MB/s (${Math.round((100 * results.cliPipe.median) / results.v2Bulk.median)}%)`, "report", true],
  ["  ... the sender without --json (the plain view)", `${Math.round(results.cliPipe.plainSender.median)} MB/s`, `with --json: ${Math.round(results.cliPipe.median)} MB/s`, "report", true],
  ["  ... peak RSS with --json (recv / send)", pair(results.cliPipe.peakRssMb), `the library's bulk peers (${mib(BULK_COUNT)}): ${pair(results.v2Bulk.peakRssMb)}`, "report", true],
  [`CLI RSS, ${QUIET_MS / 1000} s after ${BURST_LINES} lines (recv / send)`, pair(results.cliQuietAfterBurst.quiet), `connected, before: ${pair(results.cliQuietAfterBurst.idle)}; at the burst's end: ${pair(results.cliQuietAfterBurst.burst)}`, "report", true]
]

// a quick run is too short for the targets (2,000 messages, 16 MiB of bulk): it shows that every figure can
// be measured, and judges none of them
const verdict = (met) => (quick ? null : met)
if (asJson) {
  console.log(JSON.stringify({ quick, runs: RUNS, node: process.version, cpus: os.cpus().length, results, targets: targets.map(([name, value, baseline, target, met]) => ({ name, value, baseline, target, met: verdict(met) })) }))
} else {
  const rows = [["figure", "median", "baseline (same run)", "target", "met"], ...targets.map((t) => [...t.slice(0, 4), verdict(t[4]) === null ? "-" : t[4] ? "yes" : "NO"])]
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  const tableWidth = widths.reduce((a, b) => a + b + 2, 0)
  const columns = process.stdout.isTTY ? process.stdout.columns || 80 : Infinity
  if (tableWidth <= columns) for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(widths[i])).join("  "))
  else
    // a terminal narrower than the table (about 200 columns) wrapped every row into the next: a figure a block
    for (const [name, value, baseline, target, met] of rows.slice(1)) {
      const judged = met === "-" ? "" : met === "yes" ? ": met" : ": NOT met"
      console.log(`${name}: ${value}${target === "report" ? "" : `  (target ${target}${judged})`}`)
      if (baseline !== "") console.log(`    baseline: ${baseline}`)
    }
  console.log(`(${RUNS} run(s) each; min-max and all figures: npm run bench -- --json)`)
  if (quick) console.log("(quick: too short to judge the targets; `npm run bench` judges them)")
}
