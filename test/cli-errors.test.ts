import { execFile } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { VERSION } from "../src/version.js"
import { CLI, freePort, startCli } from "./support/cli.js"
import { scratchFiles } from "./support/files.js"

const run = (args: ReadonlyArray<string>, timeoutMs = 20_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, env: { ...process.env, NO_COLOR: "1" } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    )
  })

const { dir, file } = scratchFiles("p2pchat-test-")
const rsaPem = () => crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string

describe("bad flags and files are refused with one sentence and exit code 2, before any network activity", () => {
  const base = ["-i", "127.0.0.1", "-t", "127.0.0.1:9"]
  const cases: Array<[string, ReadonlyArray<string>, RegExp]> = [
    ["port 70000", ["-p", "70000", ...base], /-p\/--port 70000 is not a port/],
    ["remote port 0", ["-i", "127.0.0.1", "-t", "127.0.0.1", "-r", "0"], /-r\/--remote 0 is not a port/],
    ["mode 5", ["-m", "5", ...base], /-m\/--mode 5 is not a mode/],
    ["unknown protocol", ["--protocol", "v3", ...base], /--protocol v3 is unknown/],
    ["a key without a certificate", ["-k", "/nonexistent.pem", ...base], /go together/],
    ["a target with a bad port", ["-i", "127.0.0.1", "-t", "127.0.0.1:99999"], /is not a port/],
    ["a target that is not an address", ["-i", "127.0.0.1", "-t", "no such host!"], /neither an IP address nor a host name/],
    ["no target without a terminal", ["-i", "127.0.0.1"], /No target given/],
    // it connected to itself, failed the handshake and retried for good, silently
    ["in auto mode, a target that is where we listen", ["-i", "127.0.0.1", "-p", "9971", "-t", "127.0.0.1:9971"], /127\.0\.0\.1:9971 is where this p2pchat listens/],
    ["in auto mode, this host's address on the port of a listener on every address", ["-i", "0.0.0.0", "-t", "127.0.0.1"], /127\.0\.0\.1:8000 is where this p2pchat listens/],
    ["a wait too long", ["--wait", "100000", ...base], /^p2pchat: --wait 100000 is out of range \(0 to 86400 seconds\)\.\n$/],
    // it was said as "--heartbeat Infinity", a value nobody typed, then without the value
    ["a heartbeat too large for a number", ["--heartbeat", "1e400", ...base], /^p2pchat: --heartbeat 1e400 is out of range \(0 to 86400 seconds\)\.\n$/],
    // @effect/cli's float took each as a number: --wait 0x10 waited 16 s
    ["a wait in hexadecimal", ["--wait", "0x10", ...base], /^p2pchat: --wait 0x10 is not a number of seconds\.\n$/],
    ["a handshake time-out in octal", ["--handshake-timeout", "0o12", ...base], /^p2pchat: --handshake-timeout 0o12 is not a number of seconds\.\n$/],
    ["a negative wait", ["--wait", "-1", ...base], /^p2pchat: --wait -1 is out of range \(0 to 86400 seconds\)\.\n$/],
    ["a heartbeat of a millisecond (three of silence ended every chat at once)", ["--heartbeat", "0.001", ...base], /--heartbeat 0\.001 is too short/],
    // @effect/cli's own words named no flag: "'abc' is not a integer", "Received unknown argument: '-p'"
    ["a port that is not a number", ["-p", "abc", ...base], /^p2pchat: -p\/--port abc is not a port: give a whole number from 0 to 65535\.\n$/],
    // JavaScript reads each as a number (80, 1, 1000), and @effect/cli's integer took them: -p 0x50 listened on port 80
    ["a port in hexadecimal", ["-p", "0x50", ...base], /^p2pchat: -p\/--port 0x50 is not a port: give a whole number from 0 to 65535\.\n$/],
    ["a mode written as a decimal fraction", ["-m", "1.0", ...base], /^p2pchat: -m\/--mode 1\.0 is not a mode: use 0 \(auto\), 1 \(client\) or 2 \(server\)\.\n$/],
    ["a remote port in exponent notation", ["-r", "1e3", "-i", "127.0.0.1", "-t", "127.0.0.1"], /^p2pchat: -r\/--remote 1e3 is not a port: give a whole number from 1 to 65535\.\n$/],
    ["a flag with no value after it", [...base, "-p"], /^p2pchat: -p\/--port needs a value: a port, a whole number from 0 to 65535\.\n$/],
    ["a local address that cannot be one (it failed late, as an address not on this machine)", ["-i", "999.1.1.1", "-m", "2"], /^p2pchat: -i\/--ip 999\.1\.1\.1 is not an IP address\.\n$/],
    ["the peer's address without -t", ["-i", "127.0.0.1", "10.0.0.5"], /^p2pchat: "10\.0\.0\.5" is not an option: to name the peer, write -t 10\.0\.0\.5\.\n$/]
  ]
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const r = await run(args)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
      expect(r.stdout).not.toMatch(/listening|connecting/i)
    })
  }

  it("with --json too: said on stderr, as no chat began whose events would carry it", async () => {
    for (const [args, message] of [
      [["--json", "-p", "70000", ...base], /^p2pchat: -p\/--port 70000 is not a port/],
      [["--json", "-k", path.join(dir, "none.key"), "-c", path.join(dir, "none.crt"), ...base], /none\.key/]
    ] as const) {
      const r = await run(args)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stdout).toBe("")
    }
  })

  it("what the user typed is shown back cut short and with control characters made visible", async () => {
    // a 10,000-character target was quoted whole, an escape sequence raw
    const long = await run(["-i", "127.0.0.1", "-t", "a".repeat(10_000)])
    expect(long.code).toBe(2)
    expect(long.stderr).toMatch(/"a{80}…" is neither an IP address nor a host name\.\n$/)
    const escape = await run(["-i", "127.0.0.1", "-t", "bad\x1b[2Jhost"])
    expect(escape.stderr).toContain('"bad\\x1b[2Jhost" is neither')
    expect(escape.stderr).not.toContain("\x1b")
  })

  it("a key file that does not exist", async () => {
    const r = await run(["-k", path.join(dir, "missing.pem"), "-c", path.join(dir, "missing.crt"), ...base])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/missing\.pem: no such file/)
  })

  it("a key file that never ends (/dev/zero) or is a directory: refused without reading it all", async () => {
    // it used to read /dev/zero up to V8's string limit: 2 s and 630 MB before the same exit code
    const endless = await run(["-k", "/dev/zero", "-c", "/dev/zero", ...base])
    expect(endless.code).toBe(2)
    expect(endless.stderr).toMatch(/\/dev\/zero: over 1 MiB, which no PEM key or certificate is/)
    const folder = await run(["-k", dir, "-c", dir, ...base])
    expect(folder.code).toBe(2)
    expect(folder.stderr).toMatch(/a directory, not a PEM file/)
  })

  it("a key file that is not a key", async () => {
    const r = await run(["-k", file("junk.pem", "hello"), "-c", file("junk.crt", "hello"), ...base])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/junk\.pem: not a PEM private key/)
  })

  it("a key under a passphrase, and key and certificate the other way round, are said as such", async () => {
    // both were "not a PEM private key", which they are
    const locked = crypto
      .generateKeyPairSync("rsa", { modulusLength: 2048 })
      .privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }) as string
    const encrypted = await run(["-k", file("locked.pem", locked), "-c", file("any.crt", "x"), ...base])
    expect(encrypted.code).toBe(2)
    expect(encrypted.stderr).toMatch(/locked\.pem: an encrypted private key, and p2pchat does not ask for passphrases \(openssl pkey -in \S+locked\.pem -out key\.pem/)
    const { generateIdentity } = await import("../src/layers/ForgeCertificate.js")
    const { Effect } = await import("effect")
    const identity = await Effect.runPromise(generateIdentity("test"))
    const swapped = await run(["-k", file("cert.crt", identity.certPem), "-c", file("key.pem", identity.keyPem), ...base])
    expect(swapped.code).toBe(2)
    expect(swapped.stderr).toMatch(/cert\.crt: a certificate, not a private key \(are -k and -c swapped\?\)/)
    const keyTwice = await run(["-k", file("key2.pem", identity.keyPem), "-c", file("key3.pem", identity.keyPem), ...base])
    expect(keyTwice.stderr).toMatch(/key3\.pem: a private key, not a certificate/)
  })

  it("a certificate that does not match the key", async () => {
    // a valid certificate made for another key
    const { generateIdentity } = await import("../src/layers/ForgeCertificate.js")
    const { Effect } = await import("effect")
    const other = await Effect.runPromise(generateIdentity("test"))
    const r = await run(["-k", file("mine.pem", rsaPem()), "-c", file("other.crt", other.certPem), ...base])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/does not match the key/)
  })

  it("--version prints the package version", async () => {
    const r = await run(["--version"])
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "../package.json"), "utf8"))
    expect(VERSION).toBe(pkg.version)
    // one line, as scripts read it line by line: @effect/cli's had an empty line after it
    expect(r.stdout).toBe(`${VERSION}\n`)
    expect(r.code).toBe(0)
  })

  it("--help into a pipe: plain text, every flag with its default, none of @effect/cli's built-ins a chat has no use for", async () => {
    const r = await run(["--help"])
    expect(r.code).toBe(0)
    // @effect/cli coloured its help whatever the output; a pipe or a file gets it plain
    expect(r.stdout).not.toContain("\x1b")
    for (const flag of ["--ip", "--port", "--target", "--remote", "--mode", "--key", "--cert", "--protocol", "--json", "--wait", "--handshake-timeout", "--heartbeat"])
      expect(r.stdout).toContain(flag)
    const unfolded = r.stdout.replace(/\n {26}/g, " ")
    for (const fallback of ["default 8000; 0: any free port", "(default 8000)", "0 auto (default", "(default 10)", "(default 5)", "v2; default 5"])
      expect(unfolded).toContain(fallback)
    for (const builtIn of ["--wizard", "--log-level", "--completions"]) expect(r.stdout).not.toContain(builtIn)
  })
})

describe("network failures: one clear sentence and exit code 1", () => {
  it("client mode against a closed port gives up after --wait and says so", async () => {
    const port = await freePort()
    const r = await run(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`, "--wait", "1"])
    expect(r.code).toBe(1)
    // how long it tried, and what sets that: someone who waits for the peer to start wants both
    expect(r.stderr).toMatch(new RegExp(`^p2pchat: Could not reach 127\\.0\\.0\\.1:${port} in 1(\\.\\d)? s of trying \\(--wait\\): nobody is listening there \\(connection refused\\)\\.\n$`))
    // the banner names no local address: client mode listens nowhere
    expect(r.stdout).toMatch(/local\s+\(none: connecting only\)\s+target\s+127\.0\.0\.1:/)
    // and the -i given is said to be unused (it was taken without a word)
    expect(r.stdout.replace(/\s+/g, " ")).toContain("-i 127.0.0.1 is not used in client mode (-m 1), which only connects: this side does not listen.")
  })

  it("client mode with --json reports each attempt when it is made, then the failure as an error event", async () => {
    const port = await freePort()
    const p = startCli(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`, "--wait", "1"])
    const e = await p.waitFor("error")
    expect(e.code).toBe("ConnectError.Refused")
    expect(await p.exited).toBe(1)
    // attempts 400 ms apart for a second, the last at its end (0, 0.4, 0.8, 1 s); each event's time is its own
    // attempt's (they once all shared the first's). The last comes at the deadline however soon after the one
    // before (an attempt delayed on a busy machine, 0.86 s: 140 ms), so its gap is not bounded below
    const attempts = p.events.flatMap((e) => (e._tag === "connecting" ? [Date.parse(e.at)] : []))
    expect(attempts.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < attempts.length - 1; i++) expect(attempts[i]! - attempts[i - 1]!).toBeGreaterThanOrEqual(150)
    expect(attempts.at(-1)! - attempts[0]!).toBeGreaterThanOrEqual(900)
  })

  it("client mode through a forwarder (ssh -L, Docker) whose far end is not listening yet waits for it, as for a closed port", async () => {
    // the forwarder takes each connection and, while nothing listens behind it, closes it before TLS
    const [behind, front] = [await freePort(), await freePort()]
    const sockets: Array<net.Socket> = []
    const forwarder = net.createServer((c) => {
      sockets.push(c)
      c.on("error", () => {})
      const up = net.connect(behind, "127.0.0.1")
      sockets.push(up)
      up.on("error", () => c.destroy())
      c.pipe(up).pipe(c)
    })
    await new Promise<void>((r) => forwarder.listen(front, "127.0.0.1", r))
    try {
      const client = startCli(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${front}`, "--wait", "10"])
      await client.waitFor("connecting", () => client.events.filter((e) => e._tag === "connecting").length >= 3)
      // it gave up at the first close: "Could not set up TLS with ...: it closed the connection before TLS was set up"
      expect(client.child.exitCode).toBeNull()
      const server = startCli(["-i", "127.0.0.1", "-p", String(behind), "-m", "2"])
      const [hc, hs] = await Promise.all([client.waitFor("handshake"), server.waitFor("handshake")])
      expect(hc.sas).toBe(hs.sas)
      client.kill()
      server.kill()
    } finally {
      for (const s of sockets) s.destroy()
      forwarder.close()
    }
  })

  it("client mode gives up on a forwarder with nobody behind it after --wait, in a sentence", async () => {
    const [behind, front] = [await freePort(), await freePort()]
    const forwarder = net.createServer((c) => {
      c.on("error", () => {})
      net.connect(behind, "127.0.0.1").on("error", () => c.destroy())
    })
    await new Promise<void>((r) => forwarder.listen(front, "127.0.0.1", r))
    try {
      const r = await run(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${front}`, "--wait", "1"])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(
        new RegExp(
          `^p2pchat: No p2pchat answered at 127\\.0\\.0\\.1:${front} in 1(\\.\\d)? s of trying \\(--wait\\): it took the connection and closed it before TLS was set up \\(a forwarder with no p2pchat behind it yet\\?\\)\\.\n$`
        )
      )
    } finally {
      forwarder.close()
    }
  })

  it("a port already in use", async () => {
    const port = await freePort()
    const holder = startCli(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    await holder.waitFor("listening")
    const r = await run(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    holder.kill()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/port is already in use; pick another with -p\.$/m)
  })

  it("an address that is not on this host", async () => {
    const r = await run(["-i", "192.0.2.1", "-p", "0", "-m", "2"])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/does not belong to this machine; pick one with -i\.$/m)
  })

  it("a single attempt (--wait 0) is said without a time", async () => {
    const port = await freePort()
    const r = await run(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`, "--wait", "0"])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(`p2pchat: Could not reach 127.0.0.1:${port}: nobody is listening there (connection refused).\n`)
  })

  // `${seconds} seconds` reads "1e-7 seconds", which Effect's durations do not parse
  it.each(["0.0000001", "1e-7"])("--wait %s, a time that JavaScript writes with an exponent, is taken (it was an internal error)", async (value) => {
    const port = await freePort()
    const r = await run(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`, "--wait", value])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`^p2pchat: Could not reach 127\\.0\\.0\\.1:${port}( in 0\\.\\d s of trying \\(--wait\\))?: nobody is listening there \\(connection refused\\)\\.\n$`))
  })

  it("a host name that does not resolve", async () => {
    const r = await run(["-i", "127.0.0.1", "-m", "1", "-t", "no-such-host.invalid", "--wait", "0"])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/does not resolve/)
  })
})

describe("a bug outside the chat's fibers", () => {
  const THROWER = path.resolve(import.meta.dirname, "support/throw-later.mjs")
  const listen = async (json: boolean) => {
    const p = startCli(["-i", "127.0.0.1", "-p", String(await freePort()), "-m", "2"], {
      json,
      env: { NODE_OPTIONS: `--import=${THROWER}` }
    })
    const code = await p.exited
    return { code, stderr: p.stderr(), stdout: p.stdout() }
  }

  it("ends the process with one sentence and exit code 1, never a stack trace", async () => {
    const { code, stderr } = await listen(false)
    expect(code).toBe(1)
    expect(stderr).toBe("p2pchat hit an internal error and stopped (RangeError: thrown by the test); please report it.\n")
  })

  it("with --json, as an error event on stdout", async () => {
    const { code, stdout, stderr } = await listen(true)
    expect(code).toBe(1)
    const last = JSON.parse(stdout.trim().split("\n").at(-1)!)
    expect(last).toMatchObject({ event: "error", code: "InternalError", message: expect.stringContaining("RangeError: thrown by the test") })
    expect(stderr).toBe("")
  })
})

describe("flags that say more than they used to", () => {
  it("-i takes a network interface's name for its address (it was taken for a host name, and refused)", async () => {
    const p = startCli(["-i", "lo", "-p", String(await freePort()), "-m", "2"])
    try {
      const listening = await p.waitFor("listening")
      expect(listening.address).toBe("127.0.0.1")
    } finally {
      p.kill()
    }
  })
})

describe("stopped by a signal before any chat", () => {
  it("SIGTERM (a service stopped) ends the process by SIGTERM, as uncaught; it exited with code 130, a failure", async () => {
    const p = startCli(["-i", "127.0.0.1", "-p", String(await freePort()), "-m", "2"])
    await p.waitFor("listening")
    const ended = new Promise<NodeJS.Signals | null>((resolve) => p.child.on("exit", (_, signal) => resolve(signal)))
    p.kill("SIGTERM")
    expect(await ended).toBe("SIGTERM")
  })

  it("Ctrl-C in a shell script stops the script too (with exit code 130 the shell took it as handled and went on)", async () => {
    const { spawn } = await import("node:child_process")
    const port = await freePort()
    // a script of its own process group, as a terminal's foreground job is; Ctrl-C signals the whole group
    const script = spawn("bash", ["-c", `'${process.execPath}' '${CLI}' --json -i 127.0.0.1 -p ${port} -m 2; echo "went on: $?"`], {
      detached: true,
      stdio: ["pipe", "pipe", "pipe"]
    })
    let out = ""
    script.stdout.setEncoding("utf8")
    script.stdout.on("data", (d: string) => (out += d))
    for (let i = 0; i < 200 && !out.includes('"listening"'); i++) await new Promise((r) => setTimeout(r, 25))
    expect(out).toContain('"listening"')
    const ended = new Promise<NodeJS.Signals | null>((resolve) => script.on("exit", (_, signal) => resolve(signal)))
    process.kill(-script.pid!, "SIGINT")
    expect(await ended).toBe("SIGINT")
    expect(out).not.toContain("went on")
  })
})

describe("standard output that cannot be written", () => {
  it("a full disk (ENOSPC) is said on stderr, exit code 1 (it was 141, as for a closed pipe, and not a word)", async () => {
    const { spawn } = await import("node:child_process")
    const full = fs.openSync("/dev/full", "w")
    const child = spawn(process.execPath, [CLI, "--json", "-i", "127.0.0.1", "-p", String(await freePort()), "-m", "2"], {
      stdio: ["pipe", full, "pipe"]
    })
    fs.closeSync(full)
    let stderr = ""
    child.stderr!.setEncoding("utf8")
    child.stderr!.on("data", (d: string) => (stderr += d))
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
    expect(code).toBe(1)
    expect(stderr).toBe("p2pchat: could not write to standard output (ENOSPC: no space left on device), so it stopped.\n")
  })
})
