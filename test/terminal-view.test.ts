import { EventEmitter } from "node:events"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as readline from "node:readline"
import { Terminal } from "@xterm/headless"
import { Effect } from "effect"
import stringWidth from "string-width"
import { afterEach, describe, expect, it, vi } from "vitest"
import { plain } from "../src/cli/render.js"
import { bracketedPaste, makeTerminalView, sentStarts, stopJobOnCtrlZ } from "../src/cli/terminalView.js"
import { type ChatEvent, event } from "../src/domain/events.js"

afterEach(() => {
  vi.restoreAllMocks()
})

describe("Ctrl-Z at the interactive view", () => {
  it("stops the whole job out of raw mode, and once it goes on is back in raw mode with the line drawn again", () => {
    const steps: Array<string> = []
    const stdin = process.stdin as Omit<NodeJS.ReadStream, "setRawMode"> & { setRawMode?: (mode: boolean) => NodeJS.ReadStream }
    const setRawMode = stdin.setRawMode
    stdin.setRawMode = (mode: boolean) => (steps.push(`raw ${mode}`), process.stdin)
    vi.spyOn(process, "kill").mockImplementation((pid, signal) => (steps.push(`kill ${pid} ${String(signal)}`), true))
    try {
      const rl = Object.assign(new EventEmitter(), { prompt: (keep?: boolean) => void steps.push(`prompt ${keep}`) })
      stopJobOnCtrlZ(rl as unknown as readline.Interface, { before: () => steps.push("before"), after: () => steps.push("after") })
      rl.emit("SIGTSTP")
      // the process group (0), not the process alone: a shell waiting for npx took the terminal back only so
      expect(steps).toEqual(["before", "raw false", "kill 0 SIGTSTP", "raw true", "after", "prompt true"])
    } finally {
      // the test's stdin is no terminal and had none: nothing left behind
      if (setRawMode === undefined) delete stdin.setRawMode
      else stdin.setRawMode = setRawMode
    }
  })
})

describe("bracketed paste", () => {
  /** A terminal's output that records what is written, on a file for the exit's synchronous write. */
  const terminalOut = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-paste-"))
    const file = path.join(dir, "out")
    const fd = fs.openSync(file, "w+")
    const written: Array<string> = []
    const out = { fd, write: (s: string) => (written.push(s), true) } as unknown as NodeJS.WriteStream & { readonly fd: number }
    return {
      out,
      written,
      atExit: () => fs.readFileSync(file, "utf8"),
      close: () => {
        fs.closeSync(fd)
        fs.rmSync(dir, { recursive: true })
      }
    }
  }
  const exitListenerAdded = (before: ReadonlyArray<Function>) => process.listeners("exit").find((l) => !before.includes(l))

  it("is asked for and turned off once each, not again while it already is", () => {
    const t = terminalOut()
    try {
      const paste = bracketedPaste(t.out)
      paste.on()
      paste.on()
      paste.off()
      paste.off()
      paste.on()
      paste.end()
      expect(t.written).toEqual(["\x1b[?2004h", "\x1b[?2004l", "\x1b[?2004h", "\x1b[?2004l"])
    } finally {
      t.close()
    }
  })

  it("an exit that skips the view's end turns it off, if it is on; after the end, the exit has nothing to do", () => {
    const t = terminalOut()
    const before = process.listeners("exit")
    try {
      const paste = bracketedPaste(t.out)
      const atExit = exitListenerAdded(before) as (() => void) | undefined
      expect(atExit).toBeDefined()
      // off: nothing to turn off
      atExit!()
      expect(t.atExit()).toBe("")
      paste.on()
      atExit!()
      expect(t.atExit()).toBe("\x1b[?2004l")
      paste.end()
      expect(t.written.at(-1)).toBe("\x1b[?2004l")
      expect(process.listeners("exit")).not.toContain(atExit)
    } finally {
      for (const l of process.listeners("exit")) if (!before.includes(l)) process.off("exit", l)
      t.close()
    }
  })
})

describe("messages sent from the view and waiting for their receipts", () => {
  it("are kept by their starts until delivered, at most 20,000 of them (past that the chat's end lists ids)", () => {
    const starts = sentStarts()
    for (let i = 1; i <= 20_001; i++) starts.sent(String(i), `message number ${i}, with some more words after it`)
    expect(starts.size()).toBe(20_000)
    expect(starts.get("1")).toBe('"message number 1, with some mo…"')
    expect(starts.get("20001")).toBeUndefined()
    starts.delivered("1")
    expect(starts.get("1")).toBeUndefined()
    expect(starts.size()).toBe(19_999)
    // room again for the next one sent
    starts.sent("20002", "after a receipt")
    expect(starts.get("20002")).toBe('"after a receipt"')
  })
})

describe("the interactive view's lines and delivery marks, as a terminal shows them", () => {
  interface Size {
    readonly columns: number
    readonly rows: number
  }
  /** What the view writes for `batches` of events (each one call of onEvents) to a terminal of `size`. */
  const written = (size: Size, batches: ReadonlyArray<ReadonlyArray<ChatEvent>>): string => {
    let out = ""
    const stdout = process.stdout as { columns?: number; rows?: number }
    const kept = { columns: Object.getOwnPropertyDescriptor(stdout, "columns"), rows: Object.getOwnPropertyDescriptor(stdout, "rows") }
    Object.defineProperty(stdout, "columns", { value: size.columns, configurable: true })
    Object.defineProperty(stdout, "rows", { value: size.rows, configurable: true })
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true))
    try {
      const view = makeTerminalView(plain, stringWidth)
      for (const batch of batches) Effect.runSync(view.onEvents(batch))
    } finally {
      vi.mocked(process.stdout.write).mockRestore()
      for (const key of ["columns", "rows"] as const) {
        const descriptor = kept[key]
        if (descriptor === undefined) delete stdout[key]
        else Object.defineProperty(stdout, key, descriptor)
      }
    }
    return out
  }
  /** The rows a terminal of `size` shows after `text`, scrollback included, blank ones left out. */
  const rendered = (size: Size, text: string) =>
    new Promise<Array<string>>((resolve) => {
      const terminal = new Terminal({ cols: size.columns, rows: size.rows, allowProposedApi: true, convertEol: true })
      terminal.write(text, () => {
        const buffer = terminal.buffer.active
        const rows = Array.from({ length: buffer.length }, (_, i) => buffer.getLine(i)?.translateToString(true) ?? "")
        terminal.dispose()
        resolve(rows.filter((row) => row !== ""))
      })
    })
  const sent = (id: string, text: string) => event({ _tag: "sent", id, text })
  const received = (id: string, text: string) => event({ _tag: "message", id, text })
  const delivered = (id: string) => event({ _tag: "delivered", id })
  /** `count` received lines, numbered from `from`. */
  const later = (from: number, count: number) => Array.from({ length: count }, (_, i) => received(String(from + i), `line ${from + i}`))
  const size = { columns: 60, rows: 10 }

  it("a receipt in the same batch as its sent line marks it: the line is printed before the mark is set", async () => {
    // a receipt that came as fast as the send (loopback) shares its batch; marked before the line was out, it
    // found nothing to mark and the line kept its waiting mark for good
    const rows = await rendered(size, written(size, [[sent("1", "fast"), delivered("1")], [received("1", "after")]]))
    expect(rows).toEqual([expect.stringMatching(/^Sent \d\d:\d\d ✓ +fast$/), expect.stringMatching(/^Received \d\d:\d\d +after$/)])
  })

  it("a receipt marks its line under later ones; for a line scrolled off the screen no mark is written", async () => {
    // the mark goes up as many rows as the lines below it take: past the screen's top the terminal stops at
    // its first row, and the mark landed in whatever line was there
    const rows = await rendered(
      size,
      written(size, [[sent("1", "scrolled away")], later(1, size.rows + 2), [sent("2", "still on screen")], later(20, 3), [delivered("1"), delivered("2")]])
    )
    expect(rows.filter((row) => row.includes("✓"))).toEqual([expect.stringMatching(/^Sent \d\d:\d\d ✓ +still on screen$/)])
    expect(rows[0]).toMatch(/^Sent \d\d:\d\d ○ +scrolled away$/)
  })

  it("a mark goes on a line in the screen's top row; one row further up, it is not written at all", async () => {
    // the cursor waits on the row under the last line printed: a line with rows - 2 below it is in the top row
    const top = await rendered(size, written(size, [[sent("1", "at the top")], later(1, size.rows - 2), [delivered("1")]]))
    expect(top[0]).toMatch(/^Sent \d\d:\d\d ✓ +at the top$/)
    // a row more and it is in the scrollback: the mark, written anyway, would land in the top row's line
    const gone = await rendered(size, written(size, [[sent("1", "just gone")], later(1, size.rows - 1), [delivered("1")]]))
    expect(gone[0]).toMatch(/^Sent \d\d:\d\d ○ +just gone$/)
    expect(gone.filter((row) => row.includes("✓"))).toEqual([])
  })

  it("keeps the rows of the last 200 lines only: a long chat does not grow the view, and a line further up keeps its waiting mark even on a screen tall enough", async () => {
    const tall = { columns: 60, rows: 300 }
    // 199 lines below it: the sent line is among the 200 kept, and marked; 200 below it, it is not
    const kept = await rendered(tall, written(tall, [[sent("1", "kept")], later(1, 199), [delivered("1")]]))
    expect(kept[0]).toMatch(/^Sent \d\d:\d\d ✓ +kept$/)
    const dropped = await rendered(tall, written(tall, [[sent("1", "dropped")], later(1, 200), [delivered("1")]]))
    expect(dropped[0]).toMatch(/^Sent \d\d:\d\d ○ +dropped$/)
    expect(dropped.filter((row) => row.includes("✓"))).toEqual([])
  })

  it("on a terminal narrower than 20 columns (a split tmux pane) a mark lands on its line, counted in the rows there", async () => {
    // the view measured rows as if at least 20 columns wide: the two rows of each line below counted one
    const narrow = { columns: 12, rows: 10 }
    const rows = await rendered(narrow, written(narrow, [[sent("1", "hi")], [received("1", "x")], [delivered("1")]]))
    expect(rows).toEqual([expect.stringMatching(/^Sent \d\d:\d\d ✓$/), "    hi", expect.stringMatching(/^Received \d\d:$/), expect.stringMatching(/^\d\d  x$/)])
    // and down to one column, the handshake is rendered (folded past sense) with its safety code
    const handshake = event({ _tag: "handshake", protocol: "v2", localFingerprint: "ab".repeat(32), peerFingerprint: "cd".repeat(32), sas: "12345", suite: "v2" })
    for (let columns = 1; columns < 20; columns++) expect(written({ columns, rows: 10 }, [[handshake]])).toContain("Safety code: 12345")
  })
})
