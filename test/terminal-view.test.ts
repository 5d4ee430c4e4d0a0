import { EventEmitter } from "node:events"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as readline from "node:readline"
import { afterEach, describe, expect, it, vi } from "vitest"
import { bracketedPaste, sentStarts, stopJobOnCtrlZ } from "../src/cli/terminalView.js"

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
