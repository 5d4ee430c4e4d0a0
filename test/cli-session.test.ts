import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import { type CliProcess, freePort, startCli } from "./support/cli.js"

const running: Array<CliProcess> = []
afterEach(() => {
  for (const p of running.splice(0)) p.kill()
})
const start = (args: Array<string>, options?: Parameters<typeof startCli>[1]) => {
  const p = startCli(args, options)
  running.push(p)
  return p
}

/** A listener (-m 2) and a client (-m 1) on 127.0.0.1 with the given extra flags. */
const pair = async (
  serverArgs: Array<string> = [],
  clientArgs: Array<string> = serverArgs,
  options?: Parameters<typeof startCli>[1]
) => {
  const port = await freePort()
  const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2", ...serverArgs], options)
  await server.waitFor("listening")
  const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`, ...clientArgs], options)
  return { server, client, port }
}

const KEYGEN_COUNTER = path.resolve(import.meta.dirname, "support/count-keygen.mjs")
const ROOT_STORE_COUNTER = path.resolve(import.meta.dirname, "support/count-root-stores.mjs")

/** A chat of two CLIs that both load `preload` (--import), run to both exiting cleanly: what each said on stderr. */
const chatLoading = async (preload: string) => {
  const { server, client } = await pair([], [], { env: { NODE_OPTIONS: `--import=${preload}` } })
  await client.waitFor("handshake")
  client.endInput()
  expect(await client.exited).toBe(0)
  expect(await server.exited).toBe(0)
  return { server: server.stderr(), client: client.stderr() }
}

describe("two p2pchat processes over TLS", () => {
  it("a client (-m 1) makes no TLS certificate, since it never listens; the listener makes one, its key started before the bundle is compiled", async () => {
    const said = await chatLoading(KEYGEN_COUNTER)
    expect(said.client).toContain("key pairs generated: 0")
    expect(said.server).toContain("key pairs generated: 1\n")
    expect(said.server).toContain("first started before the bundle was compiled: true")
  })

  it("neither side's TLS trusts a certificate authority: node never parses its ~140 root certificates (25-40 ms a process)", async () => {
    const said = await chatLoading(ROOT_STORE_COUNTER)
    expect(said.client).toContain("TLS contexts trusting node's roots: 0")
    expect(said.server).toContain("TLS contexts trusting node's roots: 0")
  })

  it("v2 client meeting a seed listener stops with a sentence naming --protocol seed; the listener is told it spoke v2", async () => {
    const { server, client } = await pair(["--protocol", "seed"], [])
    const e = await client.waitFor("error")
    expect(e.code).toBe("HandshakeError.WrongProtocol")
    expect(e.message).toMatch(/--protocol seed/)
    expect(await client.exited).toBe(1)
    // it read only a closed connection ("Turned away ...: The connection was closed by the other side")
    const rejected = await server.waitFor("rejected")
    expect(rejected.reason).toMatch(/speaks p2pchat's v2 protocol; leave out --protocol seed/)
    expect(server.child.exitCode).toBeNull()
  })

  it("seed client meeting a v2 listener says the peer speaks v2; the listener turns it away and waits on", async () => {
    const { server, client } = await pair([], ["--protocol", "seed"])
    const e = await client.waitFor("error")
    expect(e.code).toBe("HandshakeError.WrongProtocol")
    expect(e.message).toMatch(/v2/)
    expect(await client.exited).toBe(1)
    const rejected = await server.waitFor("rejected")
    expect(rejected.reason).toMatch(/--protocol seed/)
    expect(server.child.exitCode).toBeNull()
  })

  it("a peer's goodbye is 'peer left' (exit 0); a killed peer is 'connection lost' with undelivered ids (exit 1)", async () => {
    const first = await pair()
    await first.client.waitFor("handshake")
    first.client.send("hi")
    await first.server.waitFor("message", (m) => m.text === "hi")
    first.client.endInput()
    await first.server.waitFor("peer-left")
    expect(await first.server.exited).toBe(0)
    expect(await first.client.exited).toBe(0)

    const second = await pair()
    await second.client.waitFor("handshake")
    await second.server.waitFor("handshake")
    second.server.child.kill("SIGSTOP") // frozen: it can no longer read or acknowledge
    second.client.send("will not be acknowledged")
    await second.client.waitFor("sent")
    second.server.kill("SIGKILL")
    const gone = await second.client.waitFor("disconnected")
    expect(gone.reason).toBe("connection lost")
    expect(gone.undelivered).toEqual(["1"])
    expect(second.client.events.some((e) => e._tag === "peer-left")).toBe(false)
    expect(await second.client.exited).toBe(1)
  })

  it("when the chat ends while piped lines wait, one error says so (not one per line) and every accepted id is reported", async () => {
    const { server, client } = await pair(["--heartbeat", "0"])
    await client.waitFor("handshake")
    await server.waitFor("handshake")
    server.child.kill("SIGSTOP") // reads nothing more: the client's lines pile up until its input pauses
    const line = "x".repeat(20_000)
    for (let i = 0; i < 3000; i++) client.send(`${i} ${line}`)
    // wait until the client is stuck (no new `sent` for 500 ms): its unsent limit and the megabyte of texts
    // that may wait to be encrypted are full
    const sent = () => client.events.filter((e) => e._tag === "sent").length
    for (let i = 0, last = -1, still = 0; i < 400 && still < 20; i++, last = sent()) {
      await new Promise((r) => setTimeout(r, 25))
      still = sent() === last && last > 0 ? still + 1 : 0
    }
    server.kill("SIGKILL")
    const gone = await client.waitFor("disconnected")
    expect(gone.reason).toBe("connection lost")
    expect(await client.exited).toBe(1)
    const refused = client.events.filter((e) => e._tag === "error" && e.code === "SendRefused")
    expect(refused.length).toBe(1)
    // the ids count up from 1: every one accepted is reported (none was acknowledged)
    expect(gone.undelivered.length).toBeGreaterThan(100)
    expect(gone.undelivered).toEqual(gone.undelivered.map((_, i) => String(i + 1)))
  })

  it("piped lines are sent in order; /quit leaves after the lines before it and nothing after it is sent", async () => {
    const { server, client } = await pair()
    await client.waitFor("handshake")
    client.child.stdin.write(["first", "second", "/quit", "after quit"].join("\n") + "\n")
    await server.waitFor("peer-left")
    expect(server.events.flatMap((e) => (e._tag === "message" ? [e.text] : []))).toEqual(["first", "second"])
    expect(await client.exited).toBe(0)
  })

  it("a file on standard input is sent whole, from where its descriptor stands, whatever its reads cut", async () => {
    // lines from a few bytes to 60 KB, characters of 1 to 4 bytes (one in two UTF-16 units), CRLF: 3 MB, so
    // its reads (512 KiB) and the cuts of each read (64 KiB) fall inside characters and line breaks
    const lines: Array<string> = []
    for (let i = 0, bytes = 0; bytes < 3 * 1024 * 1024; i++) {
      const line = `${i} ` + "é✓😀x".repeat(((i * 7919) % 60_000) / 10)
      lines.push(line)
      bytes += Buffer.byteLength(line) + 2
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-stdin-"))
    try {
      const file = path.join(dir, "lines.txt")
      const first = "read by the shell before p2pchat starts\r\n"
      fs.writeFileSync(file, first + lines.join("\r\n") + "\r\n")
      const fd = fs.openSync(file, "r")
      // as `(read first; p2pchat ...) < file` leaves it: the descriptor stands after the first line
      fs.readSync(fd, Buffer.alloc(first.length), 0, first.length, null)
      const port = await freePort()
      const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
      await server.waitFor("listening")
      const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`], { stdin: fd })
      fs.closeSync(fd)
      expect(await client.exited).toBe(0)
      await server.waitFor("peer-left")
      expect(server.events.flatMap((e) => (e._tag === "message" ? [e.text] : []))).toEqual(lines)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("standard input that cannot be read (a directory) is said, ends the input, and the run ends as a failure", async () => {
    const port = await freePort()
    const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    await server.waitFor("listening")
    const fd = fs.openSync(os.tmpdir(), "r")
    // it used to read as empty input: nothing said, exit code 0
    const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`], { stdin: fd })
    fs.closeSync(fd)
    const error = await client.waitFor("error")
    expect(error.code).toBe("InputError")
    expect(error.message).toMatch(/^Could not read standard input \(EISDIR/)
    expect((await client.waitFor("disconnected")).reason).toBe("left")
    expect(await client.exited).toBe(1)
    await server.waitFor("peer-left")
  })

  it("when the reader of our output goes away, nothing more is acknowledged: the chat is cut, exit code 141", async () => {
    const port = await freePort()
    const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    await server.waitFor("listening")
    const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    await client.waitFor("handshake")
    // as `p2pchat ... | head -3` leaves it: the read end of its standard output closes
    client.child.stdout!.destroy()
    const count = 3_000
    for (let i = 0; i < count; i++) server.send(`m${i}`)
    expect(await client.exited).toBe(141)
    const exitedAt = Date.now()
    const gone = await server.waitFor("disconnected")
    expect(gone.reason).toBe("connection lost")
    // at once, though frames were still queued for the dead connection (it waited 2 s for them to leave)
    expect(Date.now() - exitedAt).toBeLessThan(1_500)
    // nothing was shown (the very first write failed), so nothing was acknowledged: it used to be all 3,000,
    // each "delivered", and the client stayed until its input ended
    const delivered = server.events.flatMap((e) => (e._tag === "delivered" ? [e.id] : []))
    expect(delivered).toEqual([])
    // every message sent is listed as undelivered (how many were read from the input before the connection's
    // end was noticed varies: the rest were never sent)
    const sent = server.events.flatMap((e) => (e._tag === "sent" ? [e.id] : []))
    expect(sent.length).toBeGreaterThan(0)
    expect(gone._tag === "disconnected" && [...gone.undelivered].sort()).toEqual([...sent].sort())
  })

  it("when the reader of our output goes away once it has what it wanted (`| grep -m1 delivered`), the chat's own end decides the exit code", async () => {
    const port = await freePort()
    const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    await server.waitFor("listening")
    const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    // as grep -m1 does: gone as soon as the line it waits for is there, before the chat's last event
    client.child.stdout!.on("data", (d: string) => {
      if (d.includes('"event":"delivered"')) client.child.stdout!.destroy()
    })
    client.send("deploy done")
    client.endInput()
    // the goodbye went out and the chat was over: 0, not 141 (the message was delivered, the peer told)
    expect(await client.exited).toBe(0)
    expect((await server.waitFor("disconnected")).reason).toBe("peer left")
  })

  it("when the reader of our output has gone, a chat that ended with a message never confirmed still exits 3, not 0", async () => {
    // heartbeats off: a frozen peer would end the chat as a lost connection 15 s on, a race with the leave's 13 s
    const { server, client } = await pair(["--heartbeat", "0"])
    await client.waitFor("handshake")
    await server.waitFor("handshake")
    server.child.kill("SIGSTOP") // it can no longer read or acknowledge
    // gone once it has the `sent` line: the chat's end is the next write, and fails
    client.child.stdout!.on("data", (d: string) => {
      if (d.includes('"event":"sent"')) client.child.stdout!.destroy()
    })
    client.send("never confirmed")
    client.endInput()
    // the leave waits 10 s for the receipt, says goodbye, then 3 s for the frozen peer to close
    expect(await client.exited).toBe(3)
    server.kill("SIGKILL")
  }, 30_000)

  it("when the reader of our output has gone and the chat then ends as a lost connection, exit code 1 (a failure), not 141", async () => {
    const { server, client } = await pair()
    await client.waitFor("handshake")
    await server.waitFor("handshake")
    // gone while nothing is written: the chat's end is the first write to fail
    client.child.stdout!.destroy()
    server.kill("SIGKILL")
    expect(await client.exited).toBe(1)
  })

  it("a reader that stops taking our output slows the chat down instead of making us buffer it", async () => {
    const { server, client } = await pair(["--heartbeat", "0"])
    await server.waitFor("handshake")
    server.child.stdout.pause() // the server's reader stops reading: its JSON lines back up in the pipe
    const count = 20_000
    client.child.stdin.write(Array.from({ length: count }, (_, i) => `line ${i}`).join("\n") + "\n")
    await new Promise((r) => setTimeout(r, 2_000))
    // the server shows a message before it acknowledges it: with its output stuck, most stay unacknowledged
    const deliveredWhilePaused = client.events.filter((e) => e._tag === "delivered").length
    expect(deliveredWhilePaused).toBeLessThan(count / 2)
    server.child.stdout.resume()
    await client.waitFor("delivered", (e) => e.id === String(count), 30_000)
    // the receipt can reach us before we have read the server's last lines from its pipe
    await server.waitFor("message", (e) => e.text === `line ${count - 1}`, 10_000)
    const texts = server.events.flatMap((e) => (e._tag === "message" ? [e.text] : []))
    expect(texts.length).toBe(count)
    expect(texts.every((t, i) => t === `line ${i}`)).toBe(true)
  }, 60_000)

  it("a peer that goes silent without closing is declared gone within 3 heartbeats", async () => {
    const { server, client } = await pair(["--heartbeat", "0.3"])
    await client.waitFor("handshake")
    await server.waitFor("handshake")
    const t0 = Date.now()
    server.child.kill("SIGSTOP")
    const gone = await client.waitFor("disconnected", undefined, 5_000)
    expect(gone.reason).toBe("connection lost")
    expect(Date.now() - t0).toBeLessThan(3_000)
    const error = client.events.find((e) => e._tag === "error")
    expect(error?._tag === "error" && error.code).toBe("TransportError.Timeout")
    // a silence under a second is said in tenths, not as "0 s"
    expect(error?._tag === "error" && error.message).toMatch(/nothing heard from the peer for (0\.9|[12](\.\d)?) s\.$/)
    server.child.kill("SIGKILL")
  })

  it("server mode says what the peer runs to reach it once it listens (-i 0.0.0.0 showed no address at all)", async () => {
    const port = await freePort()
    const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2"], { json: false })
    const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    await client.waitFor("handshake")
    client.endInput()
    expect(await server.exited).toBe(0)
    expect(server.stdout()).toMatch(new RegExp(`Listening on 127\\.0\\.0\\.1:${port}\n {2}Your peer runs: p2pchat -t 127\\.0\\.0\\.1:${port}\n`))
    // with -p 0, the port chosen (it named none, the port being unknown when the banner was printed)
    const any = start(["-i", "127.0.0.1", "-p", "0", "-m", "2"], { json: false })
    await vi.waitUntil(() => /Your peer runs/.test(any.stdout()), { timeout: 5_000 })
    const chosen = /Listening on 127\.0\.0\.1:(\d+)\n {2}Your peer runs: p2pchat -t 127\.0\.0\.1:(\d+)\n/.exec(any.stdout())
    expect(chosen?.[2]).toBe(chosen?.[1])
    // where it cannot listen (the port taken), no command that could not work
    const taken = start(["-i", "127.0.0.1", "-p", chosen![1]!, "-m", "2"], { json: false })
    expect(await taken.exited).toBe(1)
    expect(taken.stderr()).toMatch(/already in use/)
    expect(taken.stdout()).not.toMatch(/Your peer runs/)
    any.kill()
    await any.exited
    // a seed listener asks for the seed protocol: the bare command starts a v2 peer, whose handshake it refuses
    const seed = start(["-i", "127.0.0.1", "-p", "0", "-m", "2", "--protocol", "seed"], { json: false })
    await vi.waitUntil(() => /Your peer runs/.test(seed.stdout()), { timeout: 5_000 })
    expect(seed.stdout()).toMatch(/Listening on 127\.0\.0\.1:(\d+)\n {2}Your peer runs: p2pchat --protocol seed -t 127\.0\.0\.1:\1\n/)
    seed.kill()
    await seed.exited
  })

  it("escape sequences from the peer never reach the terminal raw, in text or JSON output", async () => {
    const port = await freePort()
    const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2"], { json: false })
    const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    await client.waitFor("handshake")
    const nasty = "\x1b]0;pwned\x07\x1b[2J\x1b[1;1Hred\x1b[31m\r\u202eevil\x9b"
    client.send(nasty)
    await client.waitFor("delivered")
    client.endInput()
    expect(await server.exited).toBe(0)
    const out = server.stdout()
    expect(out).toContain("\\x1b]0;pwned\\x07")
    expect(out).toContain("\\u202eevil\\x9b")
    expect(out).not.toMatch(/[\x1b\x07\x9b\u202e]/)
  })

  it("--stay with standard input at /dev/null (a service, a script's `&`): it receives until the peer leaves", async () => {
    // it left right after the handshake, before anything could arrive
    const port = await freePort()
    const devNull = fs.openSync("/dev/null", "r")
    const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2", "--stay"], { stdin: devNull })
    fs.closeSync(devNull)
    await server.waitFor("listening")
    const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    await client.waitFor("handshake")
    await new Promise((r) => setTimeout(r, 300))
    client.send("first")
    client.send("second")
    client.endInput()
    expect(await client.exited).toBe(0)
    expect(await server.exited).toBe(0)
    expect(server.events.filter((e) => e._tag === "message").map((e) => (e._tag === "message" ? e.text : ""))).toEqual(["first", "second"])
    expect(server.events.at(-1)).toMatchObject({ _tag: "disconnected", reason: "peer left" })
    expect(client.events.find((e) => e._tag === "disconnected")).toMatchObject({ undelivered: [] })
  })

  it("the plain view on a pipe does not offer the chat's commands (there /help would be sent as a message)", async () => {
    const port = await freePort()
    const server = start(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    await server.waitFor("listening")
    const client = start(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`], { json: false })
    await new Promise<void>((resolve) => {
      const check = setInterval(() => client.stdout().includes("Safety code") && (clearInterval(check), resolve()), 20)
    })
    client.endInput()
    expect(await client.exited).toBe(0)
    expect(await server.exited).toBe(0)
    expect(client.stdout()).toContain("Safety code")
    expect(client.stdout()).not.toContain("/help")
  })

  it("a process stopped for longer than its silence limit (Ctrl-Z, a debugger) does not take its peer for gone", async () => {
    // on waking, its overdue heartbeat timer ran before the socket's waiting frames were read: "nothing heard
    // from the peer for 2.6 s", while the peer had been there all along
    const { server, client } = await pair([], ["--heartbeat", "0.5"])
    await client.waitFor("handshake")
    await server.waitFor("handshake")
    client.kill("SIGSTOP")
    await new Promise((r) => setTimeout(r, 2_000))
    client.kill("SIGCONT")
    await new Promise((r) => setTimeout(r, 1_500))
    client.send("still here")
    await server.waitFor("message", (m) => m.text === "still here")
    client.endInput()
    expect(await client.exited).toBe(0)
    expect(await server.exited).toBe(0)
    expect([...client.events, ...server.events].filter((e) => e._tag === "error")).toEqual([])
  })

  it("IPv6: a listener on ::1 and a client with -t [::1]:port chat", async () => {
    const port = await freePort()
    const server = start(["-i", "::1", "-p", String(port), "-m", "2"])
    const listening = await server.waitFor("listening")
    expect(listening.address).toBe("::1")
    const client = start(["-i", "::1", "-m", "1", "-t", `[::1]:${port}`])
    await client.waitFor("handshake")
    client.send("over v6")
    await server.waitFor("message", (m) => m.text === "over v6")
  })

  it("a message over the length limit is refused locally with an error event; nothing is sent, the chat goes on", async () => {
    const { server, client } = await pair()
    await client.waitFor("handshake")
    client.send("é".repeat(40_000)) // 80,000 UTF-8 bytes
    const refused = await client.waitFor("error")
    expect(refused.code).toBe("SendRefused")
    expect(refused.message).toMatch(/80000 bytes; the limit is 65536/)
    client.send("short one")
    await server.waitFor("message", (m) => m.text === "short one")
    expect(server.events.filter((e) => e._tag === "message")).toHaveLength(1)
    expect(client.events.filter((e) => e._tag === "sent")).toHaveLength(1)
  })

  it("piped input that ends in a line far over the limit, without a line break: one sentence, then a normal end", async () => {
    const { server, client } = await pair()
    await client.waitFor("handshake")
    client.send("first")
    // 4 MiB in pieces, as a pipe delivers a file with no line breaks (only its length is kept, not its bytes)
    for (let i = 0; i < 64; i++) client.child.stdin.write("x".repeat(64 * 1024))
    client.endInput()
    const refused = await client.waitFor("error")
    expect(refused.message).toBe("That message is 4194304 bytes; the limit is 65536 bytes of UTF-8. Nothing was sent.")
    expect(await client.exited).toBe(0)
    expect(server.events.filter((e) => e._tag === "message").map((e) => (e as { text: string }).text)).toEqual(["first"])
  })
})
