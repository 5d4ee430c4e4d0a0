import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Terminal } from "@xterm/headless"
import stringWidth from "string-width"
import { afterEach, describe, expect, it } from "vitest"
import { plain } from "../src/cli/render.js"
import { answer } from "../src/cli/view.js"
import { CLI, type CliProcess, freePort, startCli } from "./support/cli.js"

// The interactive view needs a terminal: `script` (util-linux, essential on Debian) gives the CLI a pty.
const running: Array<{ kill: () => void }> = []
afterEach(() => {
  for (const p of running.splice(0)) p.kill()
})

interface Size {
  readonly columns: number
  readonly rows: number
}

/** The CLI's command line, for a shell. */
const cliCommand = (args: ReadonlyArray<string>) => [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ")

const inTerminal = (args: ReadonlyArray<string>, size?: Size, env: Readonly<Record<string, string>> = {}) =>
  // `script`'s pty has no size unless given one (readline then never wraps the typed line); with one, the
  // pty's name is shown first, for `resize`
  terminalRunning((size === undefined ? "" : `stty cols ${size.columns} rows ${size.rows}; echo "pty:$(tty)"; exec `) + cliCommand(args), env)

/** A terminal running `command` under `sh -c`. */
const terminalRunning = (command: string, env: Readonly<Record<string, string>> = {}) => {
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    env: { ...process.env, NO_COLOR: "", COLUMNS: "100", LINES: "30", TERM: "xterm", ...env },
    stdio: ["pipe", "pipe", "pipe"]
  })
  let screen = ""
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (d: string) => (screen += d))
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)))
  // where in the output the terminal was resized, and to what
  const resizes: Array<{ readonly at: number; readonly size: Size }> = []
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
    /** Resizes the terminal, as dragging its window's corner does: the program gets SIGWINCH. */
    resize: (to: Size) => {
      const pty = /pty:(\/dev\/pts\/\d+)/.exec(screen)?.[1]
      if (pty === undefined) throw new Error("no pty name on screen: start the terminal with a size")
      resizes.push({ at: screen.length, size: to })
      execFileSync("stty", ["-F", pty, "cols", String(to.columns), "rows", String(to.rows)])
    },
    /** Resolves once nothing has been written for 200 ms. */
    settled: async () => {
      for (let seen = -1, i = 0; seen !== screen.length && i < 50; i++) {
        seen = screen.length
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    /**
     * The screen as a terminal of `size` (and of each later size at the point it was resized) shows what was
     * written so far: its rows, blank ones left out.
     */
    rendered: async (size: Size) => {
      // rewrapping the cursor's line on a resize too, as tmux, VTE (GNOME Terminal), Konsole, kitty, Alacritty
      // and Windows Terminal do (xterm.js does not by default)
      const terminal = new Terminal({ cols: size.columns, rows: size.rows, allowProposedApi: true, reflowCursorLine: true })
      const write = (text: string) => new Promise<void>((resolve) => terminal.write(text, resolve))
      let from = 0
      for (const { at, size: to } of resizes) {
        await write(screen.slice(from, at))
        terminal.resize(to.columns, to.rows)
        from = at
      }
      await write(screen.slice(from))
      const buffer = terminal.buffer.active
      const rows = Array.from({ length: buffer.length }, (_, i) => buffer.getLine(i)?.translateToString(true) ?? "")
      terminal.dispose()
      return rows.filter((row) => row !== "")
    },
    kill: () => child.kill("SIGKILL")
  }
  running.push(term)
  return term
}

/** Bracketed paste: the program's request to the terminal (on, off), and the marks around a paste. */
const PASTE_ON = "\x1b[?2004h"
const PASTE_OFF = "\x1b[?2004l"
const PASTE_START = "\x1b[200~"
const PASTE_END = "\x1b[201~"

/** A peer listening on 127.0.0.1 (JSON lines), for a CLI in a terminal to connect to. */
const listeningPeer = async () => {
  const port = await freePort()
  const peer: CliProcess = startCli(["-i", "127.0.0.1", "-p", String(port), "-m", "2"])
  running.push(peer)
  await peer.waitFor("listening")
  return { peer, port }
}

/** A terminal running an interactive shell (with job control, as a person has), at its prompt. */
const shellInTerminal = async () => {
  const term = terminalRunning("exec bash --norc --noprofile -i")
  await term.waitFor(/bash-[\d.]+[#$] /)
  return term
}

/** Ctrl-Z, then `fg` in the shell. */
const suspendAndResume = async (term: ReturnType<typeof terminalRunning>) => {
  term.type("\x1a")
  await term.waitFor(/Stopped/)
  term.type("fg\r")
  await new Promise((r) => setTimeout(r, 500))
}

/** A listening peer (JSON lines) and the CLI connected to it in a terminal: both past the handshake. */
const chatInTerminal = async (size?: Size, env?: Readonly<Record<string, string>>) => {
  const { peer, port } = await listeningPeer()
  const term = inTerminal(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`], size, env)
  await peer.waitFor("handshake")
  return { peer, term }
}

/** The same, at the interactive view's prompt. */
const chatAtPrompt = async (size?: Size) => {
  const chat = await chatInTerminal(size)
  await chat.term.waitFor("> ")
  return chat
}

/** At the prompt, one line sent and its receipt shown (✓), then the peer stopped: no receipt comes until it goes on. */
const stoppedAfterOneReceipt = async (size: Size) => {
  const chat = await chatAtPrompt(size)
  chat.term.type("this one arrives\r")
  await chat.peer.waitFor("message", (m) => m.text === "this one arrives")
  await chat.term.waitFor("✓")
  chat.peer.child.kill("SIGSTOP")
  return chat
}

/**
 * At the prompt, the peer stopped (no receipt comes until it goes on): `line` sent, then `key` typed, and typed
 * again once "Leaving..." shows (`pressed`: when).
 */
const pressedTwiceWhileLeaving = async (key: string, line: string) => {
  const { peer, term } = await chatAtPrompt()
  peer.child.kill("SIGSTOP")
  term.type(`${line}\r`)
  await term.waitFor(line)
  term.type(key)
  await term.waitFor("Leaving...")
  const pressed = Date.now()
  term.type(key)
  return { peer, term, pressed }
}

/**
 * A FIFO for the CLI's standard input, held open for reading and writing (opening it does not block, and the
 * chat never reads its end), in a directory of its own for `body`'s files; removed after.
 */
const withHeldInput = async (body: (dir: string, input: string) => Promise<void>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-hup-"))
  const input = path.join(dir, "input")
  execFileSync("mkfifo", [input])
  const held = fs.openSync(input, fs.constants.O_RDWR)
  try {
    await body(dir, input)
  } finally {
    fs.closeSync(held)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A terminal running `cli` as `disown` leaves it: the session's leader, a shell ignoring SIGHUP, keeps the
 * hang-up's signal from it. Its exit status goes to the file `status`.
 */
const disownedInTerminal = (cli: string, status: string) => terminalRunning(`trap '' HUP; (trap - HUP; exec ${cli}); echo $? > '${status}'`)

/** The exit status disownedInTerminal wrote, within 10 s; a CLI still running then (not this test's child, nor its shell's) is stopped. */
const disownedStatus = async (status: string, port: number) => {
  // the shell creates the file, then writes to it: an empty file is not the status yet
  const written = () => fs.existsSync(status) && fs.readFileSync(status, "utf8").trim() !== ""
  for (let i = 0; i < 200 && !written(); i++) await new Promise((r) => setTimeout(r, 50))
  if (!written()) spawnSync("pkill", ["-KILL", "-f", "--", `-t 127.0.0.1:${port}`])
  for (let i = 0; i < 20 && !written(); i++) await new Promise((r) => setTimeout(r, 50))
  return fs.existsSync(status) ? fs.readFileSync(status, "utf8").trim() : ""
}

describe("the interactive terminal", () => {
  it("prompt, sent line with a delivery mark, typing kept across incoming text, /verify, /help, /quit", async () => {
    const { peer, term } = await chatInTerminal()
    await term.waitFor("Safety code:")
    const handshake = await peer.waitFor("handshake")
    expect(term.screen()).toContain(handshake.sas!)
    await term.waitFor("> ")

    term.type("hello there\r")
    await peer.waitFor("message", (m) => m.text === "hello there")
    await term.waitFor(/Sent \d\d:\d\d/)
    await term.waitFor("✓") // the receipt puts a mark on the sent line
    // where, until then, the line showed it waiting
    expect(term.screen().replace(/\x1b\[[0-9;]*m/g, "")).toMatch(/Sent \d\d:\d\d ○ {4}hello there[\s\S]*✓/)

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
    const { peer, port } = await listeningPeer()
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

  it("before asking for the peer's address, says what the peer runs to reach this side (its address was nowhere on screen)", async () => {
    const port = await freePort()
    const term = inTerminal(["-i", "127.0.0.1", "-p", String(port)])
    await term.waitFor(new RegExp(`Your peer runs: p2pchat -t 127\\.0\\.0\\.1:${port}[\\s\\S]{0,20}Peer address \\(ip\\[:port\\]\\): `))
    term.type("\x03")
    expect(await term.exited).toBe(130)
  })

  it("what was wrong with an answer is folded at words to the terminal's width, not broken anywhere", async () => {
    const size = { columns: 50, rows: 20 }
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1"], size)
    await term.waitFor("Peer address (ip[:port]): ")
    term.type("fe80::1\r")
    await term.waitFor(/link-local[\s\S]*Peer address \(ip\[:port\]\): /)
    await term.settled()
    const rows = await term.rendered(size)
    const said = rows.slice(rows.findIndex((r) => r.startsWith("fe80::1 is")), -1)
    // every row ends at a word (the terminal cut "name it afte" / "r a %" at 90 columns)
    expect(said.join(" ")).toBe("fe80::1 is a link-local address, reached only through the interface it is on: name it after a %, as [fe80::1%eth0]:8000.")
    for (const row of said) expect(row.length).toBeLessThanOrEqual(size.columns)
    term.type("\x03")
    expect(await term.exited).toBe(130)
  })

  it("the answers to /help and to an unknown command are folded at words to the terminal's width", async () => {
    // they went out as one line each for the terminal to break anywhere ("(your peer is told" / "); Ctrl-C")
    const size = { columns: 44, rows: 30 }
    const { term } = await chatAtPrompt(size)
    term.type("/help\r")
    await term.waitFor("//text")
    term.type("/frob the widgets\r")
    await term.waitFor("Unknown command")
    await term.settled()
    const rows = await term.rendered(size)
    const from = rows.indexOf("Commands:")
    const expected = [
      ...answer({ _tag: "help" }, undefined, plain, { columns: size.columns, width: stringWidth }),
      ...answer({ _tag: "unknown", command: "/frob the widgets" }, undefined, plain, { columns: size.columns, width: stringWidth })
    ]
    expect(expected).toContain("            told); Ctrl-C and Ctrl-D do the")
    expect(rows.slice(from, from + expected.length)).toEqual(expected)
    term.type("/quit\r")
    expect(await term.exited).toBe(0)
  })

  it("the sentence a run ends with is folded at words to the terminal's width, not broken anywhere", async () => {
    const size = { columns: 44, rows: 20 }
    const port = await freePort()
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`, "--wait", "1"], size)
    expect(await term.exited).toBe(1)
    const rows = await term.rendered(size)
    const said = rows.slice(rows.findIndex((r) => r.startsWith("p2pchat: Could not reach")))
    while (said.at(-1) === "") said.pop()
    // it read "...in 1" / ".2 s of trying (--wait): nobody is listening" / " there (connection refused)."
    expect(said.join(" ")).toMatch(new RegExp(`^p2pchat: Could not reach 127\\.0\\.0\\.1:${port} in 1(\\.\\d)? s of trying \\(--wait\\): nobody is listening there \\(connection refused\\)\\.$`))
    expect(said.length).toBeGreaterThan(1)
    for (const row of said) expect(row.length).toBeLessThanOrEqual(size.columns)
  })

  it("on a dumb terminal the sentence a run ends with is one line, as everything it shows: the terminal folds it", async () => {
    const port = await freePort()
    const term = inTerminal(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`, "--wait", "1"], { columns: 44, rows: 20 }, { TERM: "dumb" })
    expect(await term.exited).toBe(1)
    expect(term.screen()).toMatch(new RegExp(`\\np2pchat: Could not reach 127\\.0\\.0\\.1:${port} in 1(\\.\\d)? s of trying \\(--wait\\): nobody is listening there \\(connection refused\\)\\.\\r?\\n`))
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
    const { peer, term } = await chatAtPrompt()
    term.type("before the window closed\r")
    await peer.waitFor("message", (m) => m.text === "before the window closed")
    term.hangUp()
    await peer.waitFor("peer-left", undefined, 5_000)
    const end = await peer.waitFor("disconnected")
    expect(end.reason).toBe("peer left")
  })

  it("a terminal closed while the chat's input comes from a pipe says goodbye too: the peer reads 'left'", async () => {
    // standard output is the terminal that goes: SIGHUP is taken here too (left to its default it would end
    // p2pchat on the spot, and the peer would read "connection lost")
    const { peer, port } = await listeningPeer()
    const term = terminalRunning(`tail -f /dev/null | ${cliCommand(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])}`)
    await peer.waitFor("handshake")
    await term.waitFor("Safety code:")
    term.hangUp()
    const end = await peer.waitFor("disconnected", undefined, 8_000)
    expect(end.reason).toBe("peer left")
  })

  it("a terminal that hung up without a SIGHUP for p2pchat (disowned): the first write that fails there ends it as the hang-up", async () => {
    // a terminal's failed write is not a pipe's reader gone: that would end it as an output failure (exit code 1)
    await withHeldInput(async (dir, input) => {
      const { peer, port } = await listeningPeer()
      const status = path.join(dir, "status")
      const term = disownedInTerminal(`${cliCommand(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])} < '${input}'`, status)
      await peer.waitFor("handshake")
      await term.waitFor("Safety code:")
      term.hangUp()
      await term.exited
      await new Promise((r) => setTimeout(r, 300))
      // something to show, on a terminal that is gone
      peer.send("to nobody")
      const sent = await peer.waitFor("sent", (e) => e.text === "to nobody")
      const end = await peer.waitFor("disconnected", undefined, 8_000)
      // a goodbye, though the write that failed holds the chat (it read "connection lost", 5 s later); what that
      // write held is not acknowledged
      expect(end.reason).toBe("peer left")
      expect(end.undelivered).toEqual([sent.id])
      // ended as the hang-up's SIGHUP would have ended it
      expect(await disownedStatus(status, port)).toBe("129")
    })
  })

  it("a terminal that hung up without telling p2pchat (no SIGHUP: disowned) does not crash its exit: the chat's own code", async () => {
    // node restores at exit each standard stream that was a terminal at start and asserts it can: with the
    // terminal gone, p2pchat died of SIGABRT or SIGSEGV (exit status 134 or 139, a core dump) as the chat ended.
    // Here stderr alone is the terminal, kept from the hang-up's signal as `disown` would: nothing but the exit
    // touches the terminal after it goes.
    await withHeldInput(async (dir, input) => {
      for (const [leave, expected, outcome] of [
        ["/quit", 0, "peer left"],
        ["SIGKILL", 1, "connection lost"]
      ] as const) {
        const { peer, port } = await listeningPeer()
        const out = path.join(dir, `out-${port}`)
        const status = path.join(dir, `status-${port}`)
        const cli = `${cliCommand(["--json", "-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])} < '${input}' > '${out}'`
        const term = disownedInTerminal(cli, status)
        await peer.waitFor("handshake")
        term.hangUp()
        await term.exited
        // the hang-up is the kernel's, at once; the chat goes on, as p2pchat never heard of it
        await new Promise((r) => setTimeout(r, 300))
        if (leave === "/quit") peer.send("/quit")
        else peer.kill("SIGKILL")
        const code = await disownedStatus(status, port)
        expect(fs.readFileSync(out, "utf8")).toContain(`"reason":"${outcome}"`)
        expect(code).toBe(String(expected))
      }
    })
  })

  it("a typed line longer than the terminal is wide stays whole, and nothing printed above it is wiped", async () => {
    // only its last row was cleared before each incoming line: the first stayed on screen, and readline,
    // redrawing the prompt from a row up, wiped the line just printed (the second of two never showed)
    const size = { columns: 60, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    // a receipt that arrives while the long line is typed: its mark goes on the sent line (it went a row low)
    peer.child.kill("SIGSTOP")
    term.type("marked while typing\r")
    await term.waitFor("marked while typing")
    const typed = "a line typed slowly that goes on past the sixty columns of this terminal, to a second row"
    for (const c of typed) term.type(c)
    await term.waitFor("second row")
    peer.child.kill("SIGCONT")
    await peer.waitFor("message", (m) => m.text === "marked while typing")
    await term.waitFor("✓")
    peer.send("first incoming")
    await term.waitFor("first incoming")
    peer.send("second incoming")
    await term.waitFor("second incoming")
    await term.settled()
    const rows = await term.rendered(size)
    expect(rows.filter((row) => row.includes("✓"))).toEqual([expect.stringMatching(/^Sent \d\d:\d\d ✓ +marked while typing$/)])
    const bottom = rows.slice(-4)
    expect(bottom[0]).toMatch(/^Received \d\d:\d\d\s+first incoming$/)
    expect(bottom[1]).toMatch(/^Received \d\d:\d\d\s+second incoming$/)
    expect(bottom[2] + bottom[3]).toBe(`> ${typed}`)
    // no stale copy of the typed line's first row anywhere
    expect(rows.filter((row) => row.startsWith("> a line typed"))).toHaveLength(1)
  })

  it.each([
    ["past the first row's end", "a burst of keys that runs past forty columns"],
    // its last key but one ends the second row: the terminal's cursor stays on that row until the last key
    ["to one key past the second row's end", `a burst that ends a key past the second row: ${"x".repeat(33)}!`],
    ["of wide characters, one pushed to the next row", `a${"日本語".repeat(13)}`]
  ])("keys that come in one read %s (a paste, typing over a slow link), then a backspace: no copy of a row stays", async (_, burst) => {
    // readline wrote such keys straight out without counting the new row, and its redraw at the backspace started
    // a row low: the line's first row stood on the screen twice
    const size = { columns: 40, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    term.type(burst)
    await term.settled()
    term.type("\x7f\x7f\x7f")
    await term.settled()
    peer.send("incoming")
    await term.waitFor("incoming")
    await term.settled()
    const rows = await term.rendered(size)
    expect(rows.filter((row) => row.startsWith("> a"))).toHaveLength(1)
    const at = rows.findIndex((row) => row.startsWith("> a"))
    expect(rows[at - 1]).toMatch(/^Received \d\d:\d\d\s+incoming$/)
    expect(rows.slice(at).join("")).toBe(`> ${burst.slice(0, -3)}`)
  })

  it("keys in one read after an edit are counted from where the edit left the line, not where the keys before it ended", async () => {
    // a count kept through the backspaces would go on from the longer line: the second burst, short of the
    // row's end, taken for one past it, and the next backspace's redraw would start a row high, over the line above
    const size = { columns: 40, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    peer.send("the line above")
    await term.waitFor("the line above")
    term.type(`a${"b".repeat(29)}`)
    await term.settled()
    term.type("\x7f\x7f\x7f")
    await term.settled()
    term.type("123456789")
    await term.settled()
    term.type("\x7f")
    await term.settled()
    const rows = await term.rendered(size)
    expect(rows.slice(-2)).toEqual([expect.stringMatching(/^Received \d\d:\d\d\s+the line above$/), `> a${"b".repeat(26)}12345678`])
  })

  it("a window resized while a long line is typed loses nothing from the screen, and later delivery marks land on their lines", async () => {
    // readline redrew the typed line from as many rows up as it took at the old width: widening the window
    // erased the line above the prompt
    const size = { columns: 60, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    peer.send("before widening")
    await term.waitFor("before widening")
    // two sent lines whose receipts come after the resize, the second of two rows at sixty columns and one at
    // a hundred (a link: one word, left whole for the terminal to wrap): a mark counted rows as they were
    // printed, and went a row too high
    peer.child.kill("SIGSTOP")
    const long = "https://example.com/a/sent/link/of/two/rows/at/sixty/and/one/wider"
    term.type("short one\r")
    await term.waitFor("short one")
    term.type(`${long}\r`)
    await term.waitFor("one/wider")
    const typed = "a line typed before the window is made wider, long enough for two rows of sixty"
    for (const c of typed) term.type(c)
    await term.waitFor("rows of sixty")
    await term.settled()
    term.resize({ columns: 100, rows: 20 })
    await term.settled()
    peer.child.kill("SIGCONT")
    await peer.waitFor("message", (m) => m.text === long)
    peer.send("after widening")
    await term.waitFor("after widening")
    await term.settled()
    const rows = await term.rendered(size)
    expect(rows.slice(-5)).toEqual([
      expect.stringMatching(/^Received \d\d:\d\d\s+before widening$/),
      expect.stringMatching(/^Sent \d\d:\d\d ✓ +short one$/),
      expect.stringMatching(new RegExp(`^Sent \\d\\d:\\d\\d ✓ +${long}$`)),
      expect.stringMatching(/^Received \d\d:\d\d\s+after widening$/),
      `> ${typed}`
    ])
  })

  it("a typed line that fits its row only without the prompt is cleared whole once sent: the Sent line replaces it", async () => {
    // counted without the prompt's two columns the echoed line is one row, and its first row would stay on screen
    const size = { columns: 40, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    const typed = "thirty-nine characters, with the prompt"
    expect(typed).toHaveLength(39)
    term.type(`${typed}\r`)
    await peer.waitFor("message", (m) => m.text === typed)
    await term.waitFor("✓")
    await term.settled()
    const rows = await term.rendered(size)
    expect(rows.filter((row) => row.includes("thirty-nine"))).toEqual([expect.stringMatching(/^Sent \d\d:\d\d ✓ +thirty-nine characters,$/)])
    expect(rows.at(-1)).toBe("> ")
  })

  it("long messages are folded at words under their labels, and a folded sent message's mark goes on its first row", async () => {
    const size = { columns: 60, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    const incoming = "a message from the peer that is too long for one row of sixty columns and goes on"
    peer.send(incoming)
    await term.waitFor("and goes on")
    peer.child.kill("SIGSTOP") // its receipt comes after a message printed below it
    const outgoing = "and an answer of ours, long enough to be folded in two rows of this narrow terminal"
    term.type(`${outgoing}\r`)
    await term.waitFor("narrow terminal")
    peer.child.kill("SIGCONT")
    await peer.waitFor("message", (m) => m.text === outgoing)
    peer.send("short")
    await term.waitFor("✓")
    await term.settled()
    const rows = await term.rendered(size)
    const from = rows.findIndex((r) => r.startsWith("Received") && r.includes("a message from"))
    // the terminal broke them anywhere and went on under the label ("long enough to be fol" / "ded in two")
    expect(rows.slice(from, -1)).toEqual([
      expect.stringMatching(/^Received \d\d:\d\d {2}a message from the peer that is too long for$/),
      "                one row of sixty columns and goes on",
      expect.stringMatching(/^Sent \d\d:\d\d ✓ {4}and an answer of ours, long enough to be$/),
      "                folded in two rows of this narrow terminal",
      expect.stringMatching(/^Received \d\d:\d\d {2}short$/)
    ])
  })

  it("a typed message over the length limit is refused in a sentence folded at words; nothing is sent; Up brings it back", async () => {
    const size = { columns: 60, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    // a paste: the whole of it at once
    term.type(`${"x".repeat(70_000)}\r`)
    await term.waitFor("Nothing was sent.", 30_000)
    await term.settled()
    const rows = await term.rendered(size)
    const from = rows.findIndex((r) => r.startsWith("That message"))
    expect(rows.slice(from, from + 2)).toEqual(["That message is 70000 bytes; the limit is 65536 bytes of", "UTF-8. Nothing was sent."])
    // the refused text is not lost: Up puts it back at the prompt, to shorten (here Ctrl-U clears it instead)
    const refusedAt = term.screen().length
    term.type("\x1b[A")
    for (let i = 0; i < 300 && !term.screen().slice(refusedAt).includes("x".repeat(70_000)); i++) await new Promise((r) => setTimeout(r, 50))
    expect(term.screen().slice(refusedAt)).toContain("x".repeat(70_000))
    term.type("\x15")
    term.type("after it\r")
    await peer.waitFor("message", (m) => m.text === "after it")
    expect(peer.events.filter((e) => e._tag === "message")).toHaveLength(1)
  })

  it("long lines from a script reach the terminal and are all receipted (each took the view 1.5 s; the script gave up)", async () => {
    const { peer, term } = await chatAtPrompt({ columns: 100, rows: 30 })
    // one word each: nothing to fold at, the terminal wraps them
    for (let i = 0; i < 20; i++) peer.send(`${String(i).padStart(2, "0")}${"x".repeat(64_000)}`)
    peer.endInput()
    // the sender's end of input waits for receipts while they come, and gave up after 10 s without one
    expect(await peer.exited).toBe(0)
    expect(peer.events.filter((e) => e._tag === "delivered")).toHaveLength(20)
    expect(peer.events.at(-1)).toEqual(expect.objectContaining({ _tag: "disconnected", undelivered: [] }))
    await term.waitFor("Your peer left the chat.")
  })

  it("a chat cut off lists the messages not confirmed as delivered by their words, not by ids a person never saw", async () => {
    const size = { columns: 120, rows: 30 }
    const { peer, term } = await stoppedAfterOneReceipt(size)
    term.type("see you at five\r")
    await term.waitFor("see you at five")
    term.type("and bring the keys, the ones on the hook by the door\r")
    await term.waitFor("by the door")
    peer.child.kill("SIGKILL")
    expect(await term.exited).toBe(1)
    const rows = await term.rendered(size)
    // it read "(2-3)": the ids of lines that show none
    expect(rows.slice(-2)).toEqual([
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\] Disconnected\.$/),
      '  Not confirmed as delivered: 2 message(s): "see you at five", "and bring the keys, the ones o…".'
    ])
  })

  it("/quit with a message the peer never confirmed: listed, and exit code 3, not the 0 of a chat whose messages all arrived", async () => {
    const size = { columns: 120, rows: 30 }
    const { peer, term } = await stoppedAfterOneReceipt(size)
    term.type("this one waits\r")
    await term.waitFor("this one waits")
    // the leave waits 3 s for the receipt, says goodbye, and waits up to 3 s more for the peer to close
    term.type("/quit\r")
    expect(await term.exited).toBe(3)
    const rows = await term.rendered(size)
    expect(rows.at(-1)).toBe('  Not confirmed as delivered: 1 message(s): "this one waits".')
    // it did arrive, unconfirmed: the peer reads it and the goodbye once it runs again
    peer.child.kill("SIGCONT")
    await peer.waitFor("message", (m) => m.text === "this one waits")
    expect(await peer.waitFor("disconnected")).toMatchObject({ reason: "peer left", undelivered: [] })
    expect(await peer.exited).toBe(0)
  }, 20_000)

  it("Ctrl-C leaves, waiting a little for receipts; a second Ctrl-C leaves at once, still with a goodbye", async () => {
    // in this view a second Ctrl-C only left again, and the wait for receipts went on to its end (3 s); where a
    // second Ctrl-C did stop at once, it cut the connection, and the peer read "connection lost"
    const { peer, term, pressed } = await pressedTwiceWhileLeaving("\x03", "never acknowledged")
    // the goodbye goes at once; the wait for the stopped peer to close its side is cut short (130)
    expect(await term.exited).toBe(130)
    expect(Date.now() - pressed).toBeLessThan(1_500)
    peer.child.kill("SIGCONT")
    expect(await peer.waitFor("disconnected")).toMatchObject({ reason: "peer left" })
    // said once: the second Ctrl-C cuts the wait short, it does not leave again
    expect(term.screen().split("Leaving...")).toHaveLength(2)
  })

  it("/quit typed again while leaving: said once, the wait for receipts not cut short, one goodbye", async () => {
    // the leave waits (up to 3 s) for the receipt
    const { peer, term, pressed } = await pressedTwiceWhileLeaving("/quit\r", "acknowledged late")
    // the receipt comes 1.5 s on: the leave waits for it (a second Ctrl-C would have said goodbye at once)
    await new Promise((r) => setTimeout(r, 1_500))
    peer.child.kill("SIGCONT")
    expect(await term.exited).toBe(0)
    expect(Date.now() - pressed).toBeGreaterThan(1_400)
    expect(await peer.waitFor("peer-left")).toBeDefined()
    expect(peer.events.filter((e) => e._tag === "peer-left")).toHaveLength(1)
    expect(term.screen().split("Leaving...")).toHaveLength(2)
  })

  it("Ctrl-D on an empty line leaves, as /quit does: the peer reads that we left", async () => {
    const { peer, term } = await chatAtPrompt()
    term.type("\x04")
    await term.waitFor("Leaving...")
    expect(await peer.waitFor("peer-left")).toBeDefined()
    await term.waitFor("You left the chat.")
    expect(await term.exited).toBe(0)
  })

  it("what was being typed when the peer left is shown, not dropped with the prompt", async () => {
    const size = { columns: 60, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    const typed = "a reply that was half written when the other side left the chat"
    term.type(typed)
    await term.waitFor("chat")
    peer.endInput()
    expect(await term.exited).toBe(0)
    const rows = await term.rendered(size)
    expect(rows.slice(-3)).toEqual([
      expect.stringMatching(/Your peer left the chat\.$/),
      `Not sent (you were typing it): ${typed.slice(0, 60 - 31)}`,
      typed.slice(60 - 31)
    ])
  })

  it("spaces alone at the prompt when the peer leaves are nothing worth showing: no Not sent line", async () => {
    const size = { columns: 60, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    term.type("   ")
    await term.settled()
    peer.endInput()
    expect(await term.exited).toBe(0)
    const rows = await term.rendered(size)
    expect(rows.at(-1)).toMatch(/Your peer left the chat\.$/)
    expect(rows.join("\n")).not.toContain("Not sent")
  })

  it("a screen cleared with Ctrl-L: a later delivery mark does not land on the typed line", async () => {
    // the mark counted rows up to a line that the clear had taken off the screen, and was written into the prompt
    const size = { columns: 80, rows: 20 }
    const { peer, term } = await chatAtPrompt(size)
    peer.child.kill("SIGSTOP")
    term.type("sent before the clear\r")
    await term.waitFor("sent before the clear")
    term.type("\x0c")
    await term.settled()
    term.type("typing")
    await term.waitFor("typing")
    peer.child.kill("SIGCONT")
    await peer.waitFor("message", (m) => m.text === "sent before the clear")
    await term.settled()
    expect(await term.rendered(size)).toEqual(["> typing"])
  })

  it("Ctrl-Z, then fg in the shell: the chat takes typing again", async () => {
    // readline pauses its input when the process continues, for the program to resume: nothing typed after
    // `fg` was read, for good
    const { peer, port } = await listeningPeer()
    // a shell with job control, as a person has
    const term = await shellInTerminal()
    term.type(cliCommand(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`]) + "\r")
    await peer.waitFor("handshake")
    await term.waitFor("/help for commands")
    term.type("before\r")
    await peer.waitFor("message", (m) => m.text === "before")
    await suspendAndResume(term)
    term.type("after\r")
    await peer.waitFor("message", (m) => m.text === "after", 5_000)
    term.type("/quit\r")
    await peer.waitFor("peer-left")
    term.type("exit\r")
  })

  it("Ctrl-Z under a program that waits for p2pchat (as npx does): the shell takes the terminal back, fg goes on", async () => {
    // readline stopped only its own process: npx's went on waiting, so the shell never said "Stopped" and what
    // was typed went nowhere
    const { peer, port } = await listeningPeer()
    const term = await shellInTerminal()
    const waiting = `require("node:child_process").spawn(process.argv[1], process.argv.slice(2), { stdio: "inherit" }).on("exit", (c) => process.exit(c ?? 1))`
    term.type(`'${process.execPath}' -e '${waiting}' ${cliCommand(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])}\r`)
    await peer.waitFor("handshake")
    await term.waitFor("/help for commands")
    term.type("half")
    await term.waitFor(/> (?:\x1b\[\d+G)?half/)
    await suspendAndResume(term)
    term.type(" typed\r")
    await peer.waitFor("message", (m) => m.text === "half typed", 5_000)
    // bash turns bracketed paste off once it has read `fg`: p2pchat turns it on again
    expect(term.screen().lastIndexOf(PASTE_ON)).toBeGreaterThan(term.screen().lastIndexOf(PASTE_OFF))
    term.type("/quit\r")
    await peer.waitFor("peer-left")
    term.type("exit\r")
  })

  it("Ctrl-Z and fg at the question for the peer's address: the answer is still taken", async () => {
    // p2pchat exited 0 on the spot at `fg`, its question half answered, and the shell took the rest
    const { peer, port } = await listeningPeer()
    const term = await shellInTerminal()
    term.type(cliCommand(["-i", "127.0.0.1", "-m", "1"]) + "\r")
    await term.waitFor("Peer address")
    term.type("127.0.")
    await new Promise((r) => setTimeout(r, 200))
    await suspendAndResume(term)
    term.type(`0.1:${port}\r`)
    await peer.waitFor("handshake", () => true, 5_000)
    term.type("/quit\r")
    await peer.waitFor("peer-left")
    term.type("exit\r")
  })

  it("pasted lines are messages word for word: a pasted /quit or //x is text; typed, /quit still leaves", async () => {
    // each pasted line was read as if typed: a log with a "/quit" line in it ended the chat
    const { peer, term } = await chatAtPrompt()
    // the terminal is asked to mark pastes, and marks them so (xterm's bracketed paste)
    await term.waitFor(PASTE_ON)
    term.type(`${PASTE_START}pasted one\r/quit\r//two slashes\r/help\r${PASTE_END}`)
    await peer.waitFor("message", (m) => m.text === "/help")
    term.type("/quit\r")
    await peer.waitFor("peer-left")
    expect(await term.exited).toBe(0)
    expect(peer.events.filter((e) => e._tag === "message").map((e) => (e._tag === "message" ? e.text : ""))).toEqual([
      "pasted one",
      "/quit",
      "//two slashes",
      "/help"
    ])
    // and asked to stop before the shell has the terminal back
    expect(term.screen().lastIndexOf(PASTE_OFF)).toBeGreaterThan(term.screen().lastIndexOf(PASTE_ON))
  })

  it("typing at a terminal whose output goes through a pipe (`| tee log`): commands are read, not sent", async () => {
    // the plain view took every typed line for a message: /help reached the peer
    const { peer, port } = await listeningPeer()
    const term = terminalRunning(`${cliCommand(["-i", "127.0.0.1", "-m", "1", "-t", `127.0.0.1:${port}`])} | cat`)
    await term.waitFor("/help for commands")
    term.type("/help\r")
    await term.waitFor("/verify   show the fingerprints")
    term.type("a message\r")
    await peer.waitFor("message", (m) => m.text === "a message")
    term.type("/quit\r")
    await peer.waitFor("peer-left")
    expect(peer.events.filter((e) => e._tag === "message").map((e) => (e._tag === "message" ? e.text : ""))).toEqual(["a message"])
  })

  it("with input piped at a terminal and no -t, nothing is asked: a usage error, as in a script", async () => {
    // the person at the terminal types nothing p2pchat reads: the answer would come from the pipe
    const term = terminalRunning(`printf '127.0.0.1:9\\nhello\\n' | ${cliCommand(["-i", "127.0.0.1", "-m", "1"])}`)
    expect(await term.exited).toBe(2)
    expect(term.screen()).toContain("No target given: pass -t/--target ip[:port]")
    expect(term.screen()).not.toContain("Peer address")
  })

  it("with output piped and no -t, the question for the peer's address is still asked, on stderr", async () => {
    // it was a usage error ("No target given"), though a person sat at the terminal
    const { peer, port } = await listeningPeer()
    const term = terminalRunning(`${cliCommand(["-i", "127.0.0.1", "-m", "1"])} > /dev/null`)
    await term.waitFor("Peer address (ip[:port]): ")
    term.type(`127.0.0.1:${port}\r`)
    await peer.waitFor("handshake")
    peer.endInput()
    expect(await term.exited).toBe(0)
  })

  it("--help at a terminal is folded to its width: on a phone's 40 columns each flag's text goes under its label, on a wide one up to 100", async () => {
    const help = async (columns: number) => {
      const term = inTerminal(["--help"], { columns, rows: 60 })
      expect(await term.exited).toBe(0)
      // after the line that names the pty (inTerminal's, for a resize)
      return term.screen().split(/\r?\n/).slice(1).filter((line) => line !== "")
    }
    const narrow = await help(40)
    expect(narrow.length).toBeGreaterThan(20)
    expect(narrow.filter((line) => line.length > 40)).toEqual([])
    // the label alone, its text under it: beside it, the text had a dozen columns
    const port = narrow.indexOf("  -p, --port PORT")
    expect(port).toBeGreaterThan(0)
    expect(narrow[port + 1]).toMatch(/^ {8}local port to listen on/)
    const wide = await help(120)
    expect(wide.find((line) => line.startsWith("  -p, --port PORT"))).toMatch(/^ {2}-p, --port PORT {9}local port to listen on/)
    // folded at 100, not at the 80 a pipe gets, nor at the terminal's 120
    const longest = Math.max(...wide.map((line) => line.length))
    expect(longest).toBeGreaterThan(80)
    expect(longest).toBeLessThanOrEqual(100)
  })

  it("a dumb terminal (TERM=dumb: Emacs' shell) gets plain lines, no escape sequence at all", async () => {
    // it got the interactive view's colours and cursor movements, shown there as garbage
    const { peer, term } = await chatInTerminal(undefined, { TERM: "dumb" })
    await term.waitFor("Safety code:")
    // its lines are read as at the interactive view: commands answered, not sent to the peer as messages
    await term.waitFor("/help for commands")
    term.type("/help\r")
    await term.waitFor("/verify   show the fingerprints")
    term.type("//slash\r")
    await peer.waitFor("message", (m) => m.text === "/slash")
    term.type("from a dumb terminal\r")
    await peer.waitFor("message", (m) => m.text === "from a dumb terminal")
    expect(peer.events.filter((e) => e._tag === "message").map((e) => (e._tag === "message" ? e.text : ""))).toEqual([
      "/slash",
      "from a dumb terminal"
    ])
    // with the id its "Delivered" line names (no mark can be set on it later)
    await term.waitFor(/Sent \d\d:\d\d #2 +from a dumb terminal/)
    await term.waitFor(/Delivered \d\d:\d\d #2/)
    peer.send("back to it")
    await term.waitFor(/Received \d\d:\d\d +back to it/)
    expect(term.screen()).not.toContain("\x1b")
  })
})
