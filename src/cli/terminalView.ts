/** The interactive view at a terminal: readline's prompt, with incoming text printed above it. */
import { Effect, Runtime } from "effect"
import * as fs from "node:fs"
import * as readline from "node:readline"
import type { ChatEvent } from "../domain/events.js"
import { readPasted, readTyped } from "./commands.js"
import {
  cheapWidth,
  clustersOf,
  type DisplayWidth,
  dropRepeatedConnecting,
  hang,
  isPrintableAscii,
  quoteSent,
  renderEvent,
  type Style,
  type Terminal,
  typeHint,
  withoutColour
} from "./render.js"
import { answer, type View } from "./view.js"

/**
 * Ctrl-Z. In raw mode the terminal leaves it to the program, and readline stopped only its own process: under
 * `npx p2pchat`, whose process the shell waits for, the chat stopped but the shell never took the terminal back,
 * and what was typed went nowhere. The shell's whole job (our process group) is stopped instead, as the
 * terminal stops it outside raw mode. Once the job is continued (`fg`), or at once where it cannot be stopped (a
 * process group with no shell over it, whose stop the kernel discards: readline then left the terminal out of
 * raw mode), raw mode is back and the line is drawn again. (Readline's own way also left its input paused
 * after `fg`, for the program to resume.) `around` runs just before the stop and just after it.
 */
export const stopJobOnCtrlZ = (
  rl: readline.Interface,
  around: { readonly before?: () => void; readonly after?: () => void } = {}
): void =>
  void rl.on("SIGTSTP", () => {
    around.before?.()
    process.stdin.setRawMode(false)
    try {
      // the signal reaches this process before kill returns: what follows runs once the job goes on
      process.kill(0, "SIGTSTP")
    } catch {
      // no process groups to signal (readline takes no Ctrl-Z on Windows)
    }
    process.stdin.setRawMode(true)
    around.after?.()
    rl.prompt(true)
  })

/**
 * Bracketed paste (xterm's mode 2004: most terminals and tmux know it, the others ignore the request): while it
 * is on, the terminal marks what is pasted, and readline passes the marks on as the keys "paste-start" and
 * "paste-end". Off again before the shell has the terminal back (Ctrl-Z, the end, an exit on any path), as a
 * shell that does not know the mode would take the marks as typed text.
 */
export const bracketedPaste = (out: NodeJS.WriteStream & { readonly fd: number }) => {
  let on = false
  const set = (wanted: boolean) => {
    if (wanted === on) return
    on = wanted
    // a terminal that hung up fails the write as an `error` event, which main.ts takes as the hang-up
    out.write(wanted ? "\x1b[?2004h" : "\x1b[?2004l")
  }
  // an exit that skips the view's end (an uncaught error); a terminal's writes are synchronous
  const atExit = () => {
    if (!on) return
    try {
      fs.writeSync(out.fd, "\x1b[?2004l")
    } catch {
      // the terminal is gone
    }
  }
  process.on("exit", atExit)
  return {
    on: () => set(true),
    off: () => set(false),
    end: () => {
      set(false)
      process.off("exit", atExit)
    }
  }
}

const PROMPT = "> "
/** Messages sent from the interactive view whose start it keeps while they wait for their receipts. */
const MAX_UNCONFIRMED = 20_000

/**
 * What was sent from the view and waits for its receipt, as the chat's end lists it (a person sees no ids): each
 * message's start, by id, for at most `max` messages, past which the end lists ids.
 */
export const sentStarts = (max: number = MAX_UNCONFIRMED) => {
  const waiting = new Map<string, string>()
  return {
    sent: (id: string, text: string): void => {
      if (waiting.size < max) waiting.set(id, quoteSent(text))
    },
    delivered: (id: string): void => void waiting.delete(id),
    get: (id: string): string | undefined => waiting.get(id),
    size: (): number => waiting.size
  }
}

/**
 * Screen rows a line takes on a terminal `columns` wide, as the terminal wraps it: by display width, a wide
 * character (CJK, most emoji: two columns) that does not fit at the end of a row going to the next. By UTF-16
 * length, 60 CJK characters were one row, not two: the typed line was not cleared and the delivery mark
 * landed inside the text.
 */
export const rowsOn = (line: string, columns: number, displayWidth: DisplayWidth): number => {
  const text = withoutColour(line)
  // a column a character: no need to go through it (a 64 KiB line took 1.5 s a character at a time)
  if (isPrintableAscii(text)) return Math.max(1, Math.ceil(text.length / columns))
  return Math.max(1, Math.ceil(columnsAfter(0, text, columns, displayWidth) / columns))
}

/**
 * Where `text` ends when written from `from` columns into rows `columns` wide, counted from the first row's start:
 * a wide character that does not fit at the end of a row goes to the next, as terminals and readline place it.
 */
const columnsAfter = (from: number, text: string, columns: number, displayWidth: DisplayWidth): number => {
  let at = from
  for (const cluster of clustersOf(text)) {
    const width = displayWidth(cluster)
    if (width === 2 && (at + 1) % columns === 0) at++
    at += width
  }
  return at
}

/**
 * How many rows up readline's next redraw of the prompt starts: its `prevRows`, the cursor's row in the
 * typed line when it last drew it (an internal of node's readline; the cursor's row now where it is missing).
 */
const readlineRowsUp = (rl: readline.Interface): number => {
  const kept = readlineState(rl).prevRows
  return typeof kept === "number" ? kept : rl.getCursorPos().rows
}

const readlineState = (rl: readline.Interface) => rl as unknown as { prevRows?: unknown; isCompletionEnabled?: unknown }

/**
 * Node's readline writes a key typed at the end of the line straight out, and of keys that come in one read (a
 * paste, typing over a slow link) it asks only of the last whether the line went on to a new row. Its count of
 * the cursor's row then stays behind, and its next redraw (at a backspace) started that many rows low: the
 * line's first row stood on the screen twice. Its `key` is called after readline's own listener, with
 * each key: for a key it wrote out unchecked (its `isCompletionEnabled` is off for all keys of a read but the
 * last), the row is set to where the terminal's cursor is: after the text, or at the end of a full row while
 * nothing follows there. The line's width is kept key by key (measuring the whole line at each key of a 64 KiB
 * paste did not end within a test's 30 s).
 */
const rowKeeper = (rl: readline.Interface, displayWidth: DisplayWidth, columns: () => number) => {
  const state = readlineState(rl)
  // the line's length after the key before, and where the prompt and the line end then, in columns from the
  // prompt's start, as readline counts (a wide character that does not fit at a row's end goes to the next)
  let length = 0
  let offset: number | undefined
  return {
    key: (typed: string | undefined) => {
      const before = length
      length = rl.line.length
      // anything but keys added at the end readline redraws, and counts rows for, itself
      const added = typed !== undefined && typed !== "" && rl.cursor === length && length === before + typed.length && rl.line.endsWith(typed)
      if (!added || typeof state.prevRows !== "number") return void (offset = undefined)
      const was = offset
      if (offset === undefined) {
        // a key typed alone was checked, and a redraw leaves the cursor where readline counts it
        if (state.isCompletionEnabled !== false) return
        const at = rl.getCursorPos()
        offset = at.rows * columns() + at.cols
      } else offset = columnsAfter(offset, typed, columns(), displayWidth)
      const rows = Math.floor(offset / columns())
      // the last key of a read was checked: readline redrew the line if by its count the key began a row (the
      // cursor after the keys before it, at the end of a full row, is on the row above by the terminal's)
      if (state.isCompletionEnabled !== false && was !== undefined && rows > Math.floor(was / columns())) return
      state.prevRows = offset % columns() === 0 && rows > 0 ? rows - 1 : rows
    },
    /** The terminal was resized: the width is measured again when next needed. */
    forget: () => void (offset = undefined)
  }
}

/**
 * The interactive terminal: a prompt that incoming text never clobbers (lines are printed above it and the
 * half-typed input is redrawn), a delivery mark on sent lines, and the commands of HELP.
 */
export const makeTerminalView = (style: Style, measure: DisplayWidth): View => {
  const displayWidth = cheapWidth(measure)
  const out = process.stdout
  let rl: readline.Interface | undefined
  let handshake: Extract<ChatEvent, { _tag: "handshake" }> | undefined
  // the terminal's width as it is, however narrow (a split tmux pane): delivery marks count rows in it
  const columns = () => out.columns || 80
  const rowsOf = (line: string) => rowsOn(line, columns(), displayWidth)
  // recently printed lines, newest last, to put marks on them later: how many screen rows each takes, at the
  // width it was last measured at (a terminal rewraps its lines when resized)
  const recent: Array<{ id?: string; line: string; rows: number; columns: number }> = []
  const rowsNow = (entry: (typeof recent)[number]) => {
    if (entry.columns !== columns()) {
      entry.columns = columns()
      entry.rows = rowsOf(entry.line)
    }
    return entry.rows
  }

  const print = (lines: ReadonlyArray<string>, ids?: ReadonlyArray<string | undefined>) => {
    if (lines.length === 0) return
    // A typed line longer than the terminal is wide takes several rows, the cursor on any of them: the
    // whole of it is cleared, from its first row. Clearing the cursor's row alone left the rows above it on
    // screen, and readline, redrawing the prompt from as many rows up, then wiped the line just printed.
    const above = rl === undefined ? 0 : rl.getCursorPos().rows
    if (rl) {
      if (above > 0) readline.moveCursor(out, 0, -above)
      readline.cursorTo(out, 0)
      readline.clearScreenDown(out)
    }
    out.write(lines.join("\n") + "\n")
    lines.forEach((line, i) =>
      recent.push({ ...(ids?.[i] !== undefined ? { id: ids[i]! } : {}), line, rows: rowsOf(line), columns: columns() })
    )
    if (recent.length > 200) recent.splice(0, recent.length - 200)
    if (rl) {
      // readline redraws the prompt from as many rows up as it last left the cursor below the line's first
      // (not always where the cursor is now: typing at the end of the line does not tell it): blank rows for
      // it to go up into
      const redrawFrom = readlineRowsUp(rl)
      if (redrawFrom > 0) out.write("\n".repeat(redrawFrom))
      rl.prompt(true)
    }
  }

  const markDelivered = (id: string) => {
    // counted from the typed line's first row, above which the printed lines are
    let rowsUp = rl === undefined ? 0 : rl.getCursorPos().rows
    for (let i = recent.length - 1; i >= 0; i--) {
      const entry = recent[i]!
      rowsUp += rowsNow(entry)
      if (rowsUp >= (out.rows || 24)) return // scrolled away: nothing to mark
      if (entry.id === id) {
        // save cursor, go up to the sent line, write the mark in its reserved column, restore
        out.write(`\x1b7\x1b[${rowsUp}A\r\x1b[11C${style.green("✓")}\x1b8`)
        return
      }
    }
  }

  const unconfirmed = sentStarts()
  const terminal: Terminal = { width: displayWidth, sentText: unconfirmed.get }

  const shown = dropRepeatedConnecting()
  const render = (events: ReadonlyArray<ChatEvent>) => {
    const lines: Array<string> = []
    const ids: Array<string | undefined> = []
    for (const e of events.filter(shown)) {
      if (e._tag === "handshake") handshake = e
      if (e._tag === "delivered") {
        print(lines.splice(0), ids.splice(0))
        markDelivered(e.id)
        unconfirmed.delivered(e.id)
        continue
      }
      const rows = [...renderEvent(e, style, columns(), terminal), ...(e._tag === "handshake" ? typeHint(style, columns()) : [])]
      rows.forEach((row, i) => {
        // a sent message's first row carries its mark (and its id, to find it by), folded rows or not
        const marked = e._tag === "sent" && i === 0
        lines.push(marked ? row.replace("     ", ` ${style.dim("○")}   `) : row)
        ids.push(marked ? e.id : undefined)
      })
    }
    print(lines, ids)
  }

  return {
    onEvents: (events) => Effect.sync(() => render(events)),
    run: (chat, setInterrupt) =>
      Effect.gen(function* () {
        const runtime = yield* Effect.runtime<never>()
        const run = Runtime.runFork(runtime)
        const face = readline.createInterface({ input: process.stdin, output: out, prompt: PROMPT, terminal: true })
        rl = face
        // readline's measure of a row: the terminal's width, Infinity where it has none (ours is then 80)
        const rowInStep = rowKeeper(face, displayWidth, () => out.columns || Infinity)
        // On a resize readline redraws the typed line from as many rows up as the cursor was at the old width.
        // A terminal that rewraps its lines (most now do) has put the cursor on its row at the new width: the
        // redraw starts from there (from the old count, widening a window erased the line above the prompt).
        const onResize = () => {
          const state = readlineState(face)
          if (typeof state.prevRows === "number") state.prevRows = face.getCursorPos().rows
          rowInStep.forget()
        }
        out.prependListener("resize", onResize)
        // A line that ends inside a paste is a message word for word (readPasted). The marks are taken after
        // readline's own listener, which ends the line: by then those before the line have been seen.
        const paste = bracketedPaste(out)
        let pasting = false
        // Ctrl-L: readline clears the screen, and the lines printed so far are no longer there to be marked (a
        // mark counted rows up to one of them, and was written into the typed line)
        const onKey = (typed: string | undefined, key: { ctrl?: boolean; name?: string } | undefined) => {
          if (key?.ctrl === true && key.name === "l") recent.length = 0
          if (key?.name === "paste-start") pasting = true
          if (key?.name === "paste-end") pasting = false
          rowInStep.key(typed)
        }
        process.stdin.on("keypress", onKey)
        // after `fg`, on again: the shell (bash turns it off once it has read a command) may have left it off
        stopJobOnCtrlZ(face, { before: paste.off, after: paste.on })
        paste.on()
        let leaving = false
        // a leave at once (the terminal went away) cuts short the wait of one already under way
        const leave = (drainMs = 3_000, viewGone = false) => {
          if (leaving && drainMs > 0) return
          if (!leaving) print([style.dim("Leaving...")])
          leaving = true
          run(chat.leave(viewGone ? { drainMs, viewGone } : { drainMs }))
        }
        setInterrupt(leave)
        // Ctrl-C, which readline takes from the terminal, goes the way of the signal: the first leaves (through
        // setInterrupt), a second stops at once. Taken here, a second one only left again: a wait for receipts
        // went on to its end.
        face.on("SIGINT", () => void process.emit("SIGINT", "SIGINT"))
        face.on("close", () => leave())
        face.on("line", (line) => {
          // the echoed input line is replaced by the "Sent" line
          const rows = rowsOf(PROMPT + line)
          readline.moveCursor(out, 0, -rows)
          readline.clearScreenDown(out)
          const typed = pasting ? readPasted(line) : readTyped(line)
          switch (typed._tag) {
            case "nothing":
              return face.prompt()
            case "quit":
              return leave()
            case "help":
            case "verify":
            case "unknown":
              return print(answer(typed, handshake, style, { columns: columns(), width: displayWidth }))
            case "send":
              return run(
                chat.send(typed.text).pipe(
                  Effect.match({
                    onSuccess: (id) => unconfirmed.sent(String(id), typed.text),
                    onFailure: (refused) => print(hang("", [[refused.message, style.red]], columns(), displayWidth))
                  })
                )
              )
          }
        })
        face.prompt()
        const outcome = yield* chat.outcome
        leaving = true
        rl = undefined
        out.off("resize", onResize)
        process.stdin.off("keypress", onKey)
        paste.end()
        // the prompt goes, all its rows (a long typed line takes several); what was being typed is shown, not
        // dropped: the chat ended under it, and it may be worth copying
        const typed = face.line
        const above = face.getCursorPos().rows
        if (above > 0) readline.moveCursor(out, 0, -above)
        readline.cursorTo(out, 0)
        readline.clearScreenDown(out)
        if (typed.trim() !== "") out.write(`${style.yellow("Not sent (you were typing it):")} ${typed}\n`)
        face.close()
        return outcome
      })
  }
}
