// Running bench peers (scripts/bench-peer.mjs, bundled) as separate processes on 127.0.0.1, and summing up
// their figures: shared by the bench (scripts/bench.mjs) and the side-by-side comparison (scripts/ab.mjs).
import { spawn } from "node:child_process"

/** Longest a peer may run: a stuck one is killed and its run fails, rather than holding the machine. */
const PEER_TIMEOUT_MS = 600_000

/** Peers still running: a listening one would wait for its counterpart for ever once its parent is gone. */
const live = new Set()

/** Keeps a child process on the list that `stopPeers` kills, until it exits; returns it. */
export const track = (child) => {
  live.add(child)
  child.on("exit", () => live.delete(child))
  return child
}

/** Kills every peer still running (the caller is stopping, as on SIGINT or SIGTERM). */
export const stopPeers = () => {
  for (const child of live) child.kill()
  live.clear()
}

/**
 * Starts one peer. Resolves once it is ready for its counterpart (a listening role once it says its port,
 * any other at once) with its port and the promise of its result, the last JSON line it prints.
 */
export const spawnPeer = (peerScript, role, port, count, size, protocol = "v2", window = 0) =>
  new Promise((resolveStart, rejectStart) => {
    const child = track(
      spawn(process.execPath, [peerScript, role, String(port), String(count), String(size), protocol, String(window)], {
        stdio: ["ignore", "pipe", "pipe"]
      })
    )
    let out = ""
    let err = ""
    let started = false
    const result = new Promise((resolve, reject) => {
      const timer = setTimeout(() => (child.kill(), reject(new Error(`${role} timed out: ${err}`))), PEER_TIMEOUT_MS)
      child.on("exit", (code) => {
        clearTimeout(timer)
        const lines = out.trim().split("\n").filter((l) => l && !l.includes('"listening"'))
        if (code !== 0) return reject(new Error(`${role} exited ${code}: ${err}`))
        resolve(JSON.parse(lines.at(-1) ?? "{}"))
      })
    })
    child.stdout.on("data", (d) => {
      out += d
      const m = /"listening":(\d+)/.exec(out)
      if (m && !started) {
        started = true
        resolveStart({ port: Number(m[1]), result })
      }
    })
    child.stderr.on("data", (d) => (err += d))
    if (!role.includes("recv") && !role.includes("echo") && !role.includes("server")) resolveStart({ port, result })
    child.on("exit", () => started || rejectStart(new Error(`${role} ended before listening: ${err}`)))
  })

/** A server role and a client role against each other; returns both results. */
export const duel = async (peerScript, serverRole, clientRole, count, size, protocol, window) => {
  const server = await spawnPeer(peerScript, serverRole, 0, count, size, protocol, window)
  const client = await spawnPeer(peerScript, clientRole, server.port, count, size, protocol, window)
  const [s, c] = await Promise.all([server.result, client.result])
  return { server: s, client: c }
}

/** Median, min, max, p50 and p99 of a list of numbers. */
export const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return { median: q(0.5), min: s[0], max: s.at(-1), p50: q(0.5), p99: q(0.99) }
}

/**
 * Two builds' figures from runs made in pairs (run i of A beside run i of B): each build's median and
 * range, the ratio of the medians, and in how many pairs B did better (`higherIsBetter` says which way that
 * is; a tie counts for neither). On a noisy machine the count is what tells a change from noise: a build
 * better in 9 pairs of 10 is better, one better in 6 of 10 may not be.
 */
export const comparePaired = (a, b, higherIsBetter) => {
  if (a.length !== b.length || a.length === 0) throw new RangeError("comparePaired: two lists of paired runs, of one length")
  let bBetter = 0
  let aBetter = 0
  for (let i = 0; i < a.length; i++) {
    if (b[i] === a[i]) continue
    if (b[i] > a[i] === higherIsBetter) bBetter++
    else aBetter++
  }
  const sa = stats(a)
  const sb = stats(b)
  return { a: sa, b: sb, ratio: sb.median / sa.median, bBetter, aBetter, pairs: a.length, p: signTest(bBetter, aBetter) }
}

/**
 * The exact two-sided sign test: how likely a split at least this uneven is between two builds that do not
 * differ (each pair a coin toss, ties left out). A report of many figures will show a low one by chance now
 * and then: an A/A comparison (one build against itself, 8 pairs) showed 7 of 8 on one figure of fourteen.
 */
export const signTest = (wins, losses) => {
  const n = wins + losses
  const k = Math.max(wins, losses)
  let tail = 0
  let choose = 1 // C(n, i), from i = n down
  for (let i = n; i >= k; i--) {
    tail += choose
    choose = (choose * i) / (n - i + 1)
  }
  return Math.min(1, (2 * tail) / 2 ** n)
}
