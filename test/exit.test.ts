import { describe, expect, it } from "vitest"
import { chatEndCode, type ExitIo, exitWith, terminalsNow } from "../src/cli/exit.js"

/** A process whose standard streams are terminals or not as the test says, recording what exitWith does. */
const fakeIo = (ttys: ReadonlySet<number>, closeFails: ReadonlySet<number> = new Set()) => {
  const done: Array<string> = []
  const io: ExitIo = {
    isatty: (fd) => ttys.has(fd),
    close: (fd) => {
      done.push(`close ${fd}`)
      if (closeFails.has(fd)) throw new Error("EBADF: bad file descriptor, close")
    },
    exit: (code) => {
      done.push(`exit ${code}`)
      // exit never returns; the stand-in stops the caller as it would
      throw new Error("exited")
    }
  }
  return { io, done }
}

describe("exitWith: leaving when a terminal we started on may have hung up", () => {
  it("notes as terminals the standard streams that are terminals, and only those", () => {
    expect(terminalsNow(fakeIo(new Set([0, 2, 5])).io)).toEqual([0, 2])
    expect(terminalsNow(fakeIo(new Set()).io)).toEqual([])
  })

  it("with every terminal still there, exits with the code and closes nothing", () => {
    const { io, done } = fakeIo(new Set([0, 1, 2]))
    expect(() => exitWith(3, [0, 1, 2], io)).toThrow("exited")
    expect(done).toEqual(["exit 3"])
  })

  it("closes each terminal that no longer is one (node's exit would assert on it), then exits with the code", () => {
    // stdin and stderr were terminals and hung up; stdout was never one (a file): left alone
    const { io, done } = fakeIo(new Set([1]))
    expect(() => exitWith(0, [0, 2], io)).toThrow("exited")
    expect(done).toEqual(["close 0", "close 2", "exit 0"])
  })

  it("a stream that cannot be closed (closed already) does not stop the exit, nor keep the others open", () => {
    const { io, done } = fakeIo(new Set(), new Set([0]))
    expect(() => exitWith(1, [0, 1], io)).toThrow("exited")
    expect(done).toEqual(["close 0", "close 1", "exit 1"])
  })
})

describe("chatEndCode: the exit code of a chat that ended by itself", () => {
  it("0 where every message was acknowledged, 3 where some never were, 1 where the chat failed, whatever it left", () => {
    expect(chatEndCode(false, 0)).toBe(0)
    expect(chatEndCode(false, 1)).toBe(3)
    expect(chatEndCode(false, 2_000)).toBe(3)
    expect(chatEndCode(true, 0)).toBe(1)
    expect(chatEndCode(true, 5)).toBe(1)
  })
})
