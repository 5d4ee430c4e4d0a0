// npm run bench:ab -- REF_A [REF_B] [--runs N] [--only bulk,rate,handshake,latency] [--quick] [--json]
// Two builds of the library measured side by side. Each REF (a commit, tag or branch; "." for this working
// tree as built) is checked out into a temporary git worktree and its library built there; the bench peer of
// this checkout (scripts/bench-peer.mjs) is bundled against each, so the same harness measures both. The runs
// are made in pairs, in alternating order (A B, B A, A B ...), so that the machine's drift falls on both
// builds alike, and the report says, beside each build's median and range, in how many pairs B did better.
// On a shared 2-core VM single runs move by 10-25 %: judge a change by that count over 8 pairs or more, on
// the figure it was meant to move (the sign test's p beside it; among fourteen figures one may look
// significant by chance).
// REF_B defaults to ".". Builds use this checkout's node_modules. Nothing leaves 127.0.0.1.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { bundle } from "./bundle.mjs"
import { comparePaired, duel, stats, stopPeers } from "./peers.mjs"

const here = path.dirname(new URL(import.meta.url).pathname)
const root = path.resolve(here, "..")
const argv = process.argv.slice(2)
const flag = (name) => {
  const i = argv.indexOf(name)
  if (i < 0) return undefined
  const value = argv[i + 1]
  if (value === undefined || value.startsWith("--")) fail(`${name} needs a value`)
  argv.splice(i, 2)
  return value
}
function fail(message) {
  process.stderr.write(`ab: ${message}\n`)
  process.exit(2)
}
/** A failure once worktrees may exist: thrown, so that they are removed on the way out. */
class Refused extends Error {}
const quick = argv.includes("--quick")
const asJson = argv.includes("--json")
const runsText = flag("--runs")
const onlyText = flag("--only")
const refs = argv.filter((a) => !a.startsWith("--"))
if (refs.length < 1 || refs.length > 2) fail("usage: npm run bench:ab -- REF_A [REF_B] [--runs N] [--only bulk,rate,handshake,latency] [--quick] [--json]")
const [refA, refB = "."] = refs
const runs = runsText === undefined ? (quick ? 1 : 8) : Number(runsText)
if (!Number.isInteger(runs) || runs < 1 || runs > 100) fail(`--runs takes a whole number from 1 to 100, not ${runsText}`)

// what each figure runs (one duel of bench peers) and what it reads from the two results
const FIGURES = {
  bulk: {
    what: quick ? "bulk, 256 x 64 KiB" : "bulk, the first 256 MiB (4,096 x 64 KiB) from a cold start",
    run: (peer) => duel(peer, "recv", "send", quick ? 256 : 4096, 64 * 1024, "v2", quick ? 64 : 1024),
    metrics: (r) => ({
      "MB/s": [r.server.mbPerSec, true],
      "MB/s, first quarter": [r.server.first.mbPerSec, true],
      "MB/s, last quarter": [r.server.last.mbPerSec, true],
      "CPU µs/message, receiver": [r.server.cpuUsPerMessage, false],
      "CPU µs/message, sender": [r.client.cpuUsPerMessage, false],
      "peak RSS MB, receiver": [r.server.maxRssMb, false],
      "peak RSS MB, sender": [r.client.maxRssMb, false]
    })
  },
  rate: {
    what: `rate, ${quick ? "2,000" : "100,000"} x 100 B`,
    run: (peer) => duel(peer, "recv", "send", quick ? 2_000 : 100_000, 100, "v2"),
    metrics: (r) => ({
      "msg/s": [r.server.rate, true],
      "peak RSS MB, receiver": [r.server.maxRssMb, false],
      "peak RSS MB, sender": [r.client.maxRssMb, false]
    })
  },
  handshake: {
    what: `v2 handshakes, ${quick ? 5 : 30} in a row`,
    run: (peer) => duel(peer, "hs-server", "hs-client", quick ? 5 : 30, 0, "v2"),
    metrics: (r) => ({ "ms, median": [stats(r.client.times).median, false] })
  },
  latency: {
    what: `ping-pong, ${quick ? 100 : "2,000"} x 100 B`,
    run: (peer) => duel(peer, "echo", "ping", quick ? 100 : 2_000, 100, "v2"),
    metrics: (r) => ({ "ms, p50": [stats(r.client.rtts).p50, false], "ms, p99": [stats(r.client.rtts).p99, false] })
  }
}
const only = onlyText === undefined ? ["bulk", "rate", "handshake", "latency"] : onlyText.split(",")
for (const name of only) if (!(name in FIGURES)) fail(`--only: no figure "${name}" (there are ${Object.keys(FIGURES).join(", ")})`)

const log = (s) => asJson || process.stderr.write(s + "\n")
const git = (...args) => execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim()

const work = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-ab-"))
const worktrees = []
const cleanUp = () => {
  stopPeers()
  for (const dir of worktrees.splice(0)) {
    try {
      git("worktree", "remove", "--force", dir)
    } catch {
      // removed below with the rest; `git worktree prune` forgets it
    }
  }
  fs.rmSync(work, { recursive: true, force: true })
  try {
    git("worktree", "prune")
  } catch {}
}
process.on("SIGINT", () => (cleanUp(), process.exit(130)))
process.on("SIGTERM", () => (cleanUp(), process.exit(143)))

/** The library of `ref` built, and this checkout's bench peer bundled against it: the peer's path and a label. */
const prepare = async (ref, key) => {
  if (ref === ".") {
    if (!fs.existsSync(path.join(root, "dist/lib/index.js"))) throw new Refused('"." needs this working tree built first (npm run build)')
    const peer = path.join(work, `peer-${key}.mjs`)
    await bundle(path.join(root, "scripts/bench-peer.mjs"), peer)
    return { peer, label: "working tree" }
  }
  let commit
  try {
    commit = git("rev-parse", "--verify", "--short", `${ref}^{commit}`)
  } catch {
    throw new Refused(`"${ref}" is not a commit of this repository`)
  }
  const dir = path.join(work, `tree-${key}`)
  log(`building ${ref} (${commit}) ...`)
  try {
    git("worktree", "add", "--detach", dir, commit)
  } catch (e) {
    throw new Refused(`no worktree for ${ref} (${commit}): ${String(e.stderr ?? e.message).trim().split("\n")[0]}`)
  }
  worktrees.push(dir)
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir")
  try {
    execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
  } catch (e) {
    throw new Refused(`${ref} (${commit}) does not build with this checkout's node_modules: ${String(e.stdout ?? e.message).split("\n")[0]}`)
  }
  // this checkout's harness, next to that build's library (its imports are relative: ../dist/lib)
  const entry = path.join(dir, "scripts/ab-peer.mjs")
  fs.copyFileSync(path.join(root, "scripts/bench-peer.mjs"), entry)
  const peer = path.join(work, `peer-${key}.mjs`)
  try {
    await bundle(entry, peer)
  } catch (e) {
    throw new Refused(`this checkout's bench peer does not build against ${ref} (${commit}): ${e.message.split("\n")[0]}`)
  }
  return { peer, label: `${ref} (${commit})` }
}

const fmt = (x) => (x >= 1000 ? Math.round(x).toLocaleString("en-US") : x >= 100 ? x.toFixed(0) : x.toPrecision(3))
try {
  const a = await prepare(refA, "a")
  const b = await prepare(refB, "b")
  log(`A: ${a.label}\nB: ${b.label}\n${runs} pair(s) of runs per figure, in alternating order; ${os.cpus()[0]?.model ?? "cpu"} x${os.cpus().length}, Node ${process.version}`)
  const report = { a: a.label, b: b.label, runs, quick, figures: {} }
  for (const name of only) {
    const figure = FIGURES[name]
    log(`${figure.what} ...`)
    const seen = { a: [], b: [] }
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? ["a", "b"] : ["b", "a"]
      for (const which of order) seen[which].push(figure.metrics(await figure.run(which === "a" ? a.peer : b.peer)))
    }
    const table = {}
    for (const metric of Object.keys(seen.a[0])) {
      const higherIsBetter = seen.a[0][metric][1]
      table[metric] = {
        higherIsBetter,
        ...comparePaired(
          seen.a.map((m) => m[metric][0]),
          seen.b.map((m) => m[metric][0]),
          higherIsBetter
        )
      }
      const c = table[metric]
      log(
        `  ${metric.padEnd(28)} A ${fmt(c.a.median)} (${fmt(c.a.min)}-${fmt(c.a.max)})  B ${fmt(c.b.median)} (${fmt(c.b.min)}-${fmt(c.b.max)})` +
          `  B/A ${c.ratio.toFixed(3)}  B better in ${c.bBetter} of ${c.pairs} (sign test p ${c.p.toPrecision(2)})`
      )
    }
    report.figures[name] = { what: figure.what, metrics: table }
  }
  if (asJson) process.stdout.write(JSON.stringify(report) + "\n")
} catch (e) {
  // a refusal (a ref that is not there or does not build) or a run that failed (a peer's exit, a timeout)
  process.stderr.write(`ab: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exitCode = e instanceof Refused ? 2 : 1
} finally {
  cleanUp()
}
