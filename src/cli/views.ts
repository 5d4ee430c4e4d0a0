import { Effect, Fiber, Mailbox, Runtime } from "effect"
import { EventEmitter } from "node:events"
import * as fs from "node:fs"
import * as readline from "node:readline"
import { describeError, errorCode, InputError } from "../domain/errors.js"
import { type ChatEvent, event, toJsonLinesBytes } from "../domain/events.js"
import { lineSplitter, type TooLong } from "../domain/lines.js"
import { isTerminalPlainUtf8, MAX_TEXT_BYTES, tooLongRefusal } from "../domain/text.js"
import { type Allocate, type OutputLine, utf8Lines } from "../domain/utf8Lines.js"
import { HELP, readPasted, readTyped, type Typed, unknownCommand } from "./commands.js"
import type { ChatHandle, ChatOutcome } from "../services/Chat.js"
import {
  cheapWidth,
  clustersOf,
  type DisplayWidth,
  dropRepeatedConnecting,
  escapedLine,
  hang,
  hhmm,
  isPrintableAscii,
  pipedTextLine,
  quoteSent,
  renderEvent,
  type Style,
  type Terminal,
  typeHint,
  verification,
  withoutColour
} from "./render.js"

/**
 * A view renders events and feeds input lines to the chat. Three of them: the interactive terminal, plain
 * text for pipes, and JSON lines. All render the same event stream, so they cannot disagree.
 */
export interface View {
  readonly onEvents: (events: ReadonlyArray<ChatEvent>) => Effect.Effect<void>
  /**
   * Reads input until the chat is over; `setInterrupt` tells the CLI what Ctrl-C does from now on: leave,
   * after waiting up to `drainMs` for the peer's receipts (the view's own wait if not given; 0 at once).
   */
  readonly run: (chat: ChatHandle, setInterrupt: SetInterrupt) => Effect.Effect<ChatOutcome>
}

export type SetInterrupt = (f: (drainMs?: number) => void) => void

const DRAIN_MS = 10_000
const MAX_WAITING_LINES = 256
/** ...or this many UTF-16 units of them: 256 lines of 64 KiB would hold 16 MB. */
const MAX_WAITING_UNITS = 1024 * 1024

/** How much of a file on standard input is read at a time. */
const FILE_READ_BYTES = 512 * 1024

/**
 * Standard input for pipe mode. A file (`p2pchat ... < file`) is read 512 KiB at a time, from where its
 * descriptor stands, rather than in process.stdin's 64 KiB: with lines near the 64 KiB limit that was about
 * one line per read, and so one chat round per line. 4,096 lines of 65,000 bytes, start to exit, 6 runs
 * each: 2.97 against 2.51 s (reads of 256 KiB, 512 KiB and 1 MiB tried: 512 KiB gave all of the gain).
 * Pipes and terminals get process.stdin (a pipe holds 64 KiB at a time anyway).
 */
export const standardInput = (): PipeSource => {
  let file = false
  try {
    const stat = fs.fstatSync(0)
    // a directory too: process.stdin ends at once on one, as if it were empty; a read of it fails, and says so
    file = stat.isFile() || stat.isDirectory()
  } catch {
    // not expected (node puts /dev/null on a closed descriptor 0 at start): process.stdin, as before
  }
  return file ? new FileInput(0) : process.stdin
}

/** What a pipe view reads its lines from: a stream's `data`, `end` and `error`, paused and resumed. */
export interface PipeSource {
  on(event: "data", listener: (chunk: Buffer) => void): unknown
  on(event: "end", listener: () => void): unknown
  on(event: "error", listener: (error: Error) => void): unknown
  off(event: "data", listener: (chunk: Buffer) => void): unknown
  off(event: "end", listener: () => void): unknown
  pause(): unknown
  resume(): unknown
}

/**
 * A file on standard input, read into one buffer used again for every read. fs.ReadStream gives each read a
 * new 512 KiB buffer outside V8's heap, which only a collection frees: a CLI piping a file peaked 11 MB higher
 * (155-159 against 142-148 MB, 266 MB of 65,000-byte lines, 5 runs each). So the reader of `data` must be done
 * with a chunk when it returns, or pause: nothing is read while paused, and the next read reuses the memory.
 */
class FileInput extends EventEmitter {
  private readonly buffer = Buffer.allocUnsafeSlow(FILE_READ_BYTES)
  private paused = false
  private reading = false
  private over = false

  constructor(private readonly fd: number) {
    super()
    // reading starts once something listens, as a stream flows once it has a `data` listener
    this.once("newListener", () => setImmediate(() => this.next()))
  }

  pause(): this {
    this.paused = true
    return this
  }

  resume(): this {
    this.paused = false
    this.next()
    return this
  }

  private next(): void {
    if (this.paused || this.reading || this.over) return
    this.reading = true
    fs.read(this.fd, this.buffer, 0, this.buffer.length, null, (error, bytes) => {
      this.reading = false
      if (error) {
        this.over = true
        this.emit("error", error)
      } else if (bytes === 0) {
        this.over = true
        this.emit("end")
      } else {
        this.emit("data", this.buffer.subarray(0, bytes))
        this.next()
      }
    })
  }
}

/** A read is cut into lines this much at a time, while there is room for more lines to wait. */
const CUT_BYTES = 64 * 1024

/**
 * Where the next slice of a read ends: after the first line feed from CUT_BYTES on (within as much again), so
 * that a line is rarely cut in two. A line cut at a slice's end is copied to be kept, then joined to its
 * rest: a 65,000-byte line nearly always was (64 KiB slices), two copies of most of each line of a piped file.
 */
const sliceEnd = (bytes: Buffer): number => {
  if (bytes.length <= CUT_BYTES) return bytes.length
  const lf = bytes.subarray(0, 2 * CUT_BYTES).indexOf(0x0a, CUT_BYTES - 1)
  return lf === -1 ? CUT_BYTES : lf + 1
}

/** End of standard input, in the queue of lines. */
const END = Symbol("end of input")

/** How a pipe view treats the end of its input. */
export interface PipeOptions {
  /**
   * The end of input does not leave: the chat goes on until the peer leaves, a `/quit` line or a signal. A
   * receiving script (a service, whose standard input is /dev/null; `p2pchat ... &` in a script) used to
   * leave right after the handshake, before anything could arrive.
   */
  readonly stay?: boolean
  /**
   * Lines are typed by a person (standard input is a terminal, and the view plain: TERM=dumb, or our output
   * piped) and read as the interactive view reads them: commands are answered, blank lines skipped, and the
   * end of input (Ctrl-D) leaves, `stay` or not. Piped lines are all messages.
   */
  readonly typed?: boolean
}

/** A command that the view answers (the others, /quit and a message, the input acts on). */
type Answered = Extract<Typed, { _tag: "help" | "verify" | "unknown" }>

/** The lines that answer a command, in the interactive view and the plain one alike. */
const answer = (
  typed: Answered,
  handshake: Extract<ChatEvent, { _tag: "handshake" }> | undefined,
  style: Style,
  columns?: number
): ReadonlyArray<string> =>
  typed._tag === "help"
    ? HELP
    : typed._tag === "verify"
      ? handshake === undefined
        ? ["No session yet."]
        : verification(handshake, style, columns)
      : [style.yellow(unknownCommand(typed.command))]

/** What the plain view is told by its input. */
interface InputNotices {
  /** The input ended without a single line, and so leaves. */
  readonly empty: () => void
  /** Present when lines are typed by a person (PipeOptions.typed): a command to answer. */
  readonly command?: (typed: Answered) => void
}

/** Lines from stdin when it is not a terminal: every line is a message; end of input leaves after receipts (unless `stay`). */
const pipeInput = (
  chat: ChatHandle,
  /** Says a problem as an `error` event (a refused line, unreadable input): it does not end the chat. */
  report: Report,
  setInterrupt: SetInterrupt,
  input: PipeSource,
  stay: boolean,
  notices?: InputNotices
) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runFork(runtime)
    let leaving = false
    // a leave at once (the terminal went away) cuts short the wait of one already under way
    // the end of the input (or a /quit line) waits while receipts keep coming, so a file sent over a slow link
    // is delivered whole; Ctrl-C waits DRAIN_MS at most
    const leave = (drainMs = DRAIN_MS, extendOnReceipt = false) => {
      if (leaving && drainMs > 0) return
      leaving = true
      run(chat.leave({ drainMs, extendOnReceipt }))
    }
    setInterrupt((drainMs) => leave(drainMs))
    // One fiber sends the lines in order, as many as are waiting at a time: lines that arrive together reach
    // the chat together and share frames. Reading pauses while many lines wait, so a peer that reads slowly
    // cannot make us hold all of stdin in memory; a read is cut into lines a slice at a time, only while the
    // lines waiting are under that bound, and its rest waits as bytes (a 512 KiB read from a file of short
    // lines is 5,000 of them).
    // a mailbox: its takeAll hands over what waits as one array (a Queue builds it element by element)
    const lines = yield* Mailbox.make<string | TooLong | typeof END>()
    // bounded, unlike readline: a line over the message limit is counted, not kept
    const splitter = lineSplitter(MAX_TEXT_BYTES)
    let paused = false
    let waiting = 0
    let waitingUnits = 0
    let ended = false
    // what was read and not yet cut into lines; reading stays paused while there is some
    let inHand: Buffer | undefined
    const full = () => waiting >= MAX_WAITING_LINES || waitingUnits >= MAX_WAITING_UNITS
    const offer = (cut: ReadonlyArray<string | TooLong>) => {
      for (const line of cut) {
        lines.unsafeOffer(line)
        if (typeof line === "string") waitingUnits += line.length
      }
      waiting += cut.length
    }
    /** Cuts what is in hand into lines while there is room for them; whether reading may go on. */
    const cutInHand = (): boolean => {
      while (inHand !== undefined && !full()) {
        const end = sliceEnd(inHand)
        const slice = inHand.subarray(0, end)
        inHand = inHand.length > end ? inHand.subarray(end) : undefined
        offer(splitter.push(slice))
      }
      return inHand === undefined && !full()
    }
    const onData = (chunk: Buffer) => {
      inHand = inHand === undefined ? chunk : Buffer.concat([inHand, chunk])
      if (!cutInHand() && !paused) {
        paused = true
        input.pause()
      }
    }
    // what is in hand at the end (an error can come while paused) is cut whole: nothing read is dropped
    const onEnd = () => {
      if (ended) return
      ended = true
      if (inHand !== undefined) offer(splitter.push(inHand))
      inHand = undefined
      offer(splitter.end())
      waiting++
      lines.unsafeOffer(END)
    }
    // a read error ends the input as its end does, said when it happens; the run then ends as a failure (exit
    // 1): `p2pchat ... < dir` used to send nothing, say nothing and exit 0
    let inputError: InputError | undefined
    // the id of the last line the chat took (ids count up from 1), and the number of the last line taken out
    let lastId = 0
    let lineNo = 0
    const onError = (e: Error) => {
      if (ended) return
      inputError = new InputError({ detail: e.message })
      report({ code: errorCode(inputError), message: describeError(inputError) }, lastId)
      onEnd()
    }
    input.on("data", onData)
    input.on("end", onEnd)
    input.on("error", onError)
    const sender = Effect.gen(function* () {
      for (;;) {
        const [batch] = yield* lines.takeAll
        waiting -= batch.length
        for (const line of batch) {
          if (typeof line === "string") waitingUnits -= line.length
          if (leaving) return
          if (line !== END) lineNo++
          else if (stay) return
          else if (lineNo === 0 && inputError === undefined) notices?.empty()
          // "/quit" and the end of input leave after the lines before them, never before
          if (line === END || line === "/quit") return leave(DRAIN_MS, true)
          if (typeof line !== "string") {
            report({ code: "SendRefused", message: tooLongRefusal(line.bytes), line: lineNo }, lastId)
            continue
          }
          let text = line
          if (notices?.command !== undefined) {
            const typed = readTyped(line)
            if (typed._tag === "quit") return leave()
            if (typed._tag === "nothing") continue
            if (typed._tag !== "send") {
              notices.command(typed)
              continue
            }
            text = typed.text
          }
          const refused = yield* Effect.match(chat.send(text), { onFailure: (r) => r, onSuccess: (id) => void (lastId = Number(id)) })
          if (refused === undefined) continue
          report({ code: "SendRefused", message: refused.message, line: lineNo }, lastId)
          // once the chat is over every later line would be refused the same way: said once, not per line
          if (refused.reason === "Ended") return
        }
        if (paused && waiting < MAX_WAITING_LINES / 2 && waitingUnits < MAX_WAITING_UNITS / 2 && cutInHand()) {
          paused = false
          input.resume()
        }
      }
    })
    const fiber = yield* Effect.fork(sender)
    // a bug in the sender (a defect) ends the run with it, instead of leaving the chat without its input
    const outcome = yield* Effect.raceFirst(chat.outcome, Effect.zipRight(Fiber.join(fiber), Effect.never)).pipe(
      Effect.ensuring(
        Effect.zipRight(
          Fiber.interrupt(fiber),
          Effect.sync(() => {
            // the error listener stays, silent from now on (`ended`): a read error after the chat must not become
            // an uncaught one, nor be reported after the chat's last event
            input.off("data", onData)
            input.off("end", onEnd)
            ended = true
            input.pause()
          })
        )
      )
    )
    // with `stay` the input was not what ends the chat (`nohup` gives an unreadable one on purpose): its error is
    // said, and the chat's outcome is its own
    return inputError !== undefined && !stay && outcome._tag !== "Failed"
      ? ({ _tag: "Failed", error: inputError, undelivered: outcome.undelivered } satisfies ChatOutcome)
      : outcome
  })

/**
 * Hands `output` (text, or its UTF-8) to our standard output at once, and completes once the stream has taken
 * it: a reader that is slow to take our output slows the chat down (and through TCP, the peer) instead of
 * making us buffer without bound. A write that fails (the reader of our pipe went away) never completes: its
 * events were not shown, so the chat must not acknowledge them, and the CLI stops it (see main.ts). It used
 * to complete on the error, and everything the peer sent after was acknowledged as shown. The write is made
 * when this is called, not when the effect runs, so that a caller can keep account of what the stream has
 * been given (pipeOutput).
 */
const writeNow = (out: NodeJS.WritableStream, output: string | Uint8Array, written?: () => void): Effect.Effect<void> => {
  if (output.length === 0) return Effect.void
  let taken = false
  let waiter: ((done: Effect.Effect<void>) => void) | undefined
  out.write(output, (error) => {
    if (error !== undefined && error !== null) return
    taken = true
    written?.()
    waiter?.(Effect.void)
  })
  return Effect.async<void>((resume) => {
    if (taken) resume(Effect.void)
    else waiter = resume
  })
}

/** Output buffers above this size are not kept for reuse: one long burst must not hold its memory after. */
const MAX_KEPT_OUTPUT = 4 * 1024 * 1024

/**
 * Memory for the output's lines, used again once the stream has written it. A new buffer for each batch (up
 * to 1.3 MB of 64 KiB texts from a peer piping a file, 0.6 MB of the sender's own `sent` events) lives outside
 * V8's heap until a collection: piping 266 MB of 65,000-byte lines, the sender peaked at 141-147 MB with them
 * against 131-135 reusing (11 runs each), the receiver about 4 MB higher. A buffer is lent out until the write
 * that carries it completes; a write that fails keeps it.
 */
const outputBuffers = () => {
  let free: Buffer | undefined
  const lent = new Set<ArrayBufferLike>()
  return {
    allocate: (bytes: number): Buffer => {
      const whole = free !== undefined && free.length >= bytes ? free : Buffer.allocUnsafeSlow(Math.max(bytes, 64 * 1024))
      if (whole === free) free = undefined
      lent.add(whole.buffer)
      return whole.subarray(0, bytes)
    },
    /** Takes back what `output` holds, if it was lent (the slow path's buffers and strings were not). */
    written: (output: string | Uint8Array) => {
      if (typeof output === "string" || !lent.delete(output.buffer)) return
      const whole = Buffer.from(output.buffer)
      if (whole.length <= MAX_KEPT_OUTPUT && (free === undefined || free.length < whole.length)) free = whole
    }
  }
}

/** What piped input has to say: `after` is the id of the last line the chat took before it (0: none). */
type Report = (problem: { readonly code: string; readonly message: string; readonly line?: number }, after: number) => void

/**
 * A pipe view's output: the chat's events, and the input's problems in their place among them. A refused
 * line's `error` comes after the `sent` events of the lines before it, which the chat's loop emits a round
 * after taking them: written at once, it came first (`error` for line 2, then `sent` for line 1).
 */
const pipeOutput = (
  out: NodeJS.WritableStream,
  render: (events: ReadonlyArray<ChatEvent>, allocate: Allocate) => string | Uint8Array
) => {
  const buffers = outputBuffers()
  const write = (events: ReadonlyArray<ChatEvent>) => {
    let given: Buffer | undefined
    const output = render(events, (bytes) => (given = buffers.allocate(bytes)))
    // a text that needed escapes after all was rendered the slow way: its buffer went unused
    if (given !== undefined && given !== output) buffers.written(given)
    return writeNow(out, output, () => buffers.written(output))
  }
  // the highest id of a `sent` event given to the stream, and whether the chat's end has been given to it
  let shown = 0
  let over = false
  const waiting: Array<{ readonly after: number; readonly event: ChatEvent }> = []
  const inPlace = (events: ReadonlyArray<ChatEvent>): ReadonlyArray<ChatEvent> => {
    if (waiting.length === 0) {
      for (const e of events) {
        if (e._tag === "sent") shown = Number(e.id)
        else if (e._tag === "disconnected") over = true
      }
      return events
    }
    const all: Array<ChatEvent> = []
    for (const e of events) {
      // the chat's end comes after everything: a refusal waiting for a `sent` that never came goes before it
      if (e._tag === "disconnected") {
        over = true
        all.push(...waiting.splice(0).map((w) => w.event))
      }
      all.push(e)
      if (e._tag === "sent") {
        shown = Number(e.id)
        while (waiting.length > 0 && waiting[0]!.after <= shown) all.push(waiting.shift()!.event)
      }
    }
    return all
  }
  const report: Report = (problem, after) => {
    const e = event({ _tag: "error", ...problem })
    if ((after <= shown || over) && waiting.length === 0) void write([e])
    else waiting.push({ after, event: e })
  }
  return {
    onEvents: (events: ReadonlyArray<ChatEvent>) => write(inPlace(events)),
    report,
    /** Says what still waits (the input ended with the chat and no `sent` or end came after it). */
    flush: Effect.sync(() => {
      if (waiting.length > 0) void write(waiting.splice(0).map((w) => w.event))
    })
  }
}

export const makeJsonView = (
  out: NodeJS.WritableStream,
  input: PipeSource = standardInput(),
  options: PipeOptions = {}
): View => {
  const output = pipeOutput(out, toJsonLinesBytes)
  return {
    onEvents: output.onEvents,
    run: (chat, setInterrupt) => Effect.ensuring(pipeInput(chat, output.report, setInterrupt, input, options.stay === true), output.flush)
  }
}

/** Said by the plain view when its input ends before a line: a script meant to receive leaves at once. */
export const EMPTY_INPUT_NOTICE = "Standard input ended before any line, so you leave the chat (--stay keeps it open to receive)."

export const makePlainView = (
  out: NodeJS.WritableStream,
  style: Style,
  input: PipeSource = standardInput(),
  options: PipeOptions = {}
): View => {
  const shown = dropRepeatedConnecting()
  let handshake: Extract<ChatEvent, { _tag: "handshake" }> | undefined
  const output = pipeOutput(out, (events, allocate) => {
    const lines: Array<OutputLine> = []
    for (const e of events.filter(shown)) {
      if (e._tag === "delivered") lines.push(style.dim(`Delivered ${hhmm(e.at)} #${e.id}`))
      else if (e._tag === "sent" || e._tag === "message") lines.push(pipedTextLine(e, style))
      else lines.push(...renderEvent(e, style))
      if (e._tag === "handshake") {
        handshake = e
        if (options.typed === true) lines.push(...typeHint(style))
      }
    }
    if (lines.length === 0) return ""
    // a text with a character to escape (or beyond ASCII): the lines the slow way
    return utf8Lines(lines, isTerminalPlainUtf8, allocate) ?? lines.map(escapedLine).join("\n") + "\n"
  })
  const say = (lines: ReadonlyArray<string>) => void out.write(lines.join("\n") + "\n")
  const command = (typed: Answered) => say(answer(typed, handshake, style))
  // a person's Ctrl-D leaves, --stay or not, and needs no explaining
  const typed = options.typed === true
  const notices: InputNotices = typed ? { empty: () => {}, command } : { empty: () => say([style.dim(EMPTY_INPUT_NOTICE)]) }
  return {
    onEvents: output.onEvents,
    run: (chat, setInterrupt) =>
      Effect.ensuring(pipeInput(chat, output.report, setInterrupt, input, options.stay === true && !typed, notices), output.flush)
  }
}

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
  const columns = () => Math.max(20, out.columns || 80)
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

  // what was sent from here and waits for its receipt, as the chat's end lists it (a person sees no ids); at most
  // MAX_UNCONFIRMED, past which the end lists ids
  const unconfirmed = new Map<string, string>()
  const terminal: Terminal = { width: displayWidth, sentText: (id) => unconfirmed.get(id) }
  const sentFromHere = (id: string, text: string) => {
    if (unconfirmed.size < MAX_UNCONFIRMED) unconfirmed.set(id, quoteSent(text))
  }

  const shown = dropRepeatedConnecting()
  const render = (events: ReadonlyArray<ChatEvent>) => {
    const lines: Array<string> = []
    const ids: Array<string | undefined> = []
    for (const e of events.filter(shown)) {
      if (e._tag === "handshake") handshake = e
      if (e._tag === "delivered") {
        print(lines.splice(0), ids.splice(0))
        markDelivered(e.id)
        unconfirmed.delete(e.id)
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
        // readline's measure of a row: the terminal's width as it is (not ours, which is at least 20)
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
        const leave = (drainMs = 3_000) => {
          if (leaving && drainMs > 0) return
          if (!leaving) print([style.dim("Leaving...")])
          leaving = true
          run(chat.leave({ drainMs }))
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
              return print(answer(typed, handshake, style, columns()))
            case "send":
              return run(
                chat.send(typed.text).pipe(
                  Effect.match({
                    onSuccess: (id) => sentFromHere(String(id), typed.text),
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
