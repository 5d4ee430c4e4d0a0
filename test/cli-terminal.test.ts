import { spawn } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { CLI, type CliProcess, freePort, startCli } from "./support/cli.js"

// The interactive view needs a terminal: `script` (util-linux, essential on Debian) gives the CLI a pty.
const running: Array<{ kill: () => void }> = []
afterEach(() => {
  for (const p of running.splice(0)) p.kill()
})

const inTerminal = (args: ReadonlyArray<string>) => {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ")
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    env: { ...process.env, NO_COLOR: "", COLUMNS: "100", LINES: "30", TERM: "xterm" },
    stdio: ["pipe", "pipe", "pipe"]
  })
  let screen = ""
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (d: string) => (screen += d))
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)))
  const term = {
    screen: () => screen,
    type: (keys: string) => child.stdin.write(keys),
    waitFor: (text: string | RegExp, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const found = () => (typeof text === "string" ? screen.includes(text) : text.test(screen))
        const timer = setTimeout(() => (clearInterval(poll), reject(new Error(`not on screen: ${text}\n${screen}`))), ms)
        const poll = setInterval(() => found() && (clearInterval(poll), clearTimeout(timer), resolve()), 20)
      }),
    exited,
    /** Closes the terminal, as closing its window does: the pty goes, its processes get SIGHUP. */
    hangUp: () => child.kill("SIGKILL"),
    kill: () => child.kill("SIGKILL")
  }
  running.push(term)
  return term
}

describe("the interactive terminal", () => {
  it("prompt, sent line with a delivery mark, typing kept across incoming text, /verify, /help, /quit", async () => {
    const port = await freePort()
    const peer: CliProcess = startCli(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    running.push(peer)
    await peer.waitFor("listening")
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    await term.waitFor("Safety code:")
    const handshake = await peer.waitFor("handshake")
    expect(term.screen()).toContain(handshake.sas!)
    await term.waitFor("> ")

    term.type("hello there\r")
    await peer.waitFor("message", (m) => m.text === "hello there")
    await term.waitFor(/Sent \d\d:\d\d/)
    await term.waitFor("✓") // the receipt puts a mark on the sent line

    peer.send("and back")
    await term.waitFor(/Received \d\d:\d\d[\s\S]{0,20}and back/)

    // a message that arrives while the user is typing is printed above the prompt; the typing survives
    term.type("half typ")
    // readline draws "> ", moves to column 3, then the text
    const prompted = /> (?:\x1b\[\d+G)?half typ/
    await term.waitFor(prompted)
    peer.send("interruption")
    await term.waitFor(new RegExp(`interruption[\\s\\S]*${prompted.source}`))
    term.type("ed\r")
    await peer.waitFor("message", (m) => m.text === "half typed")

    term.type("/verify\r")
    await term.waitFor(/fingerprints[\s\S]*fingerprints/)
    term.type("/help\r")
    await term.waitFor("/quit     leave the chat")

    term.type("/quit\r")
    await peer.waitFor("peer-left")
    await term.waitFor("You left the chat.")
    expect(await term.exited).toBe(0)
  })

  it("asks for a missing target again after an answer that is not an address, then connects", async () => {
    const port = await freePort()
    const peer: CliProcess = startCli(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    running.push(peer)
    await peer.waitFor("listening")
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1"])
    await term.waitFor("Peer address (ip[:port]): ")
    term.type("not an address!\r")
    // the reason, then the question again (a typo used to end the program with exit code 2)
    await term.waitFor(/is neither an IP address nor a host name\.[\s\S]*Peer address \(ip\[:port\]\): (?:\x1b\[\d+G)?$/)
    term.type(`127.0.0.1:${port}\r`)
    await term.waitFor("Safety code:")
    await peer.waitFor("handshake")
    term.type("/quit\r")
    await peer.waitFor("peer-left")
    expect(await term.exited).toBe(0)
  })

  it("gives up with one sentence and exit code 2 when the question gets Ctrl-D (it used to exit 0, silently)", async () => {
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1"])
    await term.waitFor("Peer address (ip[:port]): ")
    term.type("\x04")
    expect(await term.exited).toBe(2)
    expect(term.screen()).toContain("No target given.")
  })

  it("stops as interrupted (exit code 130) when the question gets Ctrl-C, as anywhere before a chat", async () => {
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1"])
    await term.waitFor("Peer address (ip[:port]): ")
    term.type("\x03")
    expect(await term.exited).toBe(130)
  })

  it("a terminal closed in the middle of a chat says goodbye: the peer reads 'left', not 'connection lost'", async () => {
    // SIGHUP used to kill p2pchat on the spot; handled, it then died of node's assertion on the gone terminal
    const port = await freePort()
    const peer: CliProcess = startCli(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
    running.push(peer)
    await peer.waitFor("listening")
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])
    await term.waitFor("> ")
    term.type("before the window closed\r")
    await peer.waitFor("message", (m) => m.text === "before the window closed")
    term.hangUp()
    await peer.waitFor("peer-left", undefined, 5_000)
    const end = await peer.waitFor("disconnected")
    expect(end.reason).toBe("peer left")
  })
})
