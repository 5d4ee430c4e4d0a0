// Soak: two real p2pchat processes over TLS on 127.0.0.1, both sending COUNT messages at the same time.
// Checks exactly-once, in-order delivery and a receipt for every message; prints messages/s and peak RSS.
//   node scripts/soak.mjs [COUNT=200000] [PROTOCOL=v2]
// With seed, both sides sending at once breaks the protocol by design: the run ends early with that error.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"

const cli = path.join(path.dirname(new URL(import.meta.url).pathname), "../dist/p2pchat.mjs")

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

const peakRss = (pid) => {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024
  } catch {
    return 0
  }
}

const side = (name, args, count) => {
  const child = spawn(process.execPath, [cli, "--json", ...args], { stdio: ["pipe", "pipe", "pipe"] })
  const state = { name, child, received: [], delivered: new Set(), sentIds: [], handshake: false, exit: undefined, rss: 0, buffer: "", errors: [] }
  const watchers = new Set()
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (d) => {
    state.buffer += d
    let nl
    while ((nl = state.buffer.indexOf("\n")) >= 0) {
      const e = JSON.parse(state.buffer.slice(0, nl))
      state.buffer = state.buffer.slice(nl + 1)
      if (e.event === "message") state.received.push(e.text)
      else if (e.event === "delivered") state.delivered.add(e.id)
      else if (e.event === "sent") state.sentIds.push(e.id)
      else if (e.event === "handshake") state.handshake = true
      else if (e.event === "error") state.errors.push(e.message)
    }
    for (const w of watchers) w()
  })
  child.stderr.on("data", (d) => state.errors.push(String(d)))
  // a side that exits early shows up through `until` with its error, not as an EPIPE on our writes
  child.stdin.on("error", () => {})
  const rssTimer = setInterval(() => (state.rss = Math.max(state.rss, peakRss(child.pid))), 100)
  state.exited = new Promise((resolve) =>
    child.on("exit", (code) => {
      clearInterval(rssTimer)
      state.exit = code
      resolve(code)
      for (const w of watchers) w()
    })
  )
  state.until = (predicate, ms) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (predicate()) (watchers.delete(check), clearTimeout(timer), resolve())
        // a side that ended (seed cannot survive both sides sending at once) will not get there: say so now
        else if (state.exit !== undefined)
          (watchers.delete(check), clearTimeout(timer), reject(new Error(`${name}: exited ${state.exit} (${state.received.length}/${count} received) ${state.errors.join(" ")}`)))
      }
      const timer = setTimeout(() => (watchers.delete(check), reject(new Error(`${name}: timed out (${state.received.length}/${count} received, ${state.delivered.size} receipts) ${state.errors.join(" ")}`))), ms)
      watchers.add(check)
      check()
    })
  return state
}

export const soak = async ({ count = 200_000, protocol = "v2", timeoutMs = 600_000 } = {}) => {
  const [pa, pb] = [await freePort(), await freePort()]
  const a = side("A", ["-i", "127.0.0.1", "-p", String(pa), "-t", `127.0.0.1:${pb}`, "--protocol", protocol], count)
  const b = side("B", ["-i", "127.0.0.1", "-p", String(pb), "-t", `127.0.0.1:${pa}`, "--protocol", protocol], count)
  try {
    await Promise.all([a.until(() => a.handshake, 20_000), b.until(() => b.handshake, 20_000)])
    const lines = (who) => Array.from({ length: count }, (_, i) => `${who} ${i}`)
    const t0 = performance.now()
    // both sides at once, everything queued on stdin
    a.child.stdin.write(lines("A").join("\n") + "\n")
    b.child.stdin.write(lines("B").join("\n") + "\n")
    await Promise.all([
      a.until(() => a.received.length >= count && a.delivered.size >= count, timeoutMs),
      b.until(() => b.received.length >= count && b.delivered.size >= count, timeoutMs)
    ])
    const seconds = (performance.now() - t0) / 1000
    a.child.stdin.end()
    b.child.stdin.end()
    const codes = await Promise.all([a.exited, b.exited])
    const inOrder = (s, who) => s.received.length === count && s.received.every((t, i) => t === `${who} ${i}`)
    return {
      protocol,
      countEachWay: count,
      seconds,
      messagesPerSecond: (2 * count) / seconds,
      exactlyOnceInOrder: inOrder(a, "B") && inOrder(b, "A"),
      allReceipted: a.sentIds.every((id) => a.delivered.has(id)) && b.sentIds.every((id) => b.delivered.has(id)),
      exitCodes: codes,
      peakRssMb: { A: Math.round(a.rss), B: Math.round(b.rss) },
      errors: [...a.errors, ...b.errors]
    }
  } finally {
    a.child.kill()
    b.child.kill()
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const count = Number(process.argv[2] ?? 200_000)
  const protocol = process.argv[3] ?? "v2"
  const result = await soak({ count, protocol }).catch((e) => {
    console.error(`soak failed: ${e.message}`)
    process.exit(1)
  })
  console.log(JSON.stringify(result, null, 1))
  process.exit(result.exactlyOnceInOrder && result.allReceipted ? 0 : 1)
}
