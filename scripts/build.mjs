// Bundles the CLI (scripts/bundle.mjs says why): dist/p2pchat.cjs carries all of it, dist/p2pchat.mjs (the
// `p2pchat` command) starts it with V8's code cache, dist/p2pchat.cache, made here by a short chat on
// 127.0.0.1 (src/cli/codeCache.ts says why).
import { spawn } from "node:child_process"
import { chmodSync, rmSync } from "node:fs"
import { bundle } from "./bundle.mjs"

const cli = "dist/p2pchat.mjs"
const cache = "dist/p2pchat.cache"

// Imported by what the CLI uses and never run by it: @effect/cli reads YAML, TOML and INI files for its file
// arguments, which no flag of ours is, and effect's Schema makes fast-check arbitraries, for property tests.
// Bundled, they were 350 KB of the CLI's 2 MB (315 of its 820 modules), loaded at every start.
const NEVER_RUN = { yaml: ["parse"], toml: ["parse"], ini: ["parse"], "fast-check": ["array"] }
await bundle("src/bootstrap.ts", "dist/p2pchat.cjs", { sourcemap: true, format: "cjs", leaveOut: NEVER_RUN, shortNames: true })
await bundle("src/launch.ts", cli, { shebang: true })
chmodSync(cli, 0o755)

/** Runs the CLI with `args` and `input`; resolves with its stdout, once `until` shows in it or it exits. */
const run = (args, { input = "", env = {}, until } = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } })
    const timer = setTimeout(() => (child.kill(), reject(new Error(`p2pchat ${args.join(" ")}: no end in 20 s`))), 20_000)
    let out = ""
    child.stdout.on("data", (d) => {
      out += d
      if (until !== undefined && until.test(out)) resolve({ out, exited: new Promise((r) => child.once("exit", r)) })
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      if (code !== 0) reject(new Error(`p2pchat ${args.join(" ")} exited ${code}`))
      else resolve({ out, exited: Promise.resolve() })
    })
    child.stdin.end(input)
  })

// The cache is what a listener compiles from its start through one chat to its end: start-up, certificate,
// handshake, a message each way (a client sends one line, the listener's receipt), goodbye.
rmSync(cache, { force: true })
try {
  const listener = await run(["-i", "127.0.0.1", "-p", "0", "-m", "2", "--json", "--stay"], {
    env: { P2PCHAT_CODE_CACHE_OUT: cache },
    until: /"listening".*"port":(\d+)/
  })
  const port = /"listening".*"port":(\d+)/.exec(listener.out)[1]
  await run(["-t", `127.0.0.1:${port}`, "-m", "1", "--json"], { input: "code cache\n" })
  await listener.exited
} catch (e) {
  // the CLI works without it, only starts slower; the package test says so should it be missing
  console.error(`build: no code cache for the CLI (${e.message})`)
}
