/** The views where standard input or output is not a terminal (or is a `TERM=dumb` one): plain lines and JSON lines. */
import { Effect, Fiber, Mailbox, Runtime } from "effect"
import { EventEmitter } from "node:events"
import * as fs from "node:fs"
import { describeError, errorCode, InputError } from "../domain/errors.js"
import { type ChatEvent, event, toJsonLinesBytes } from "../domain/events.js"
import { lineSplitter, type TooLong } from "../domain/lines.js"
import { isTerminalPlainUtf8, MAX_TEXT_BYTES, tooLongRefusal } from "../domain/text.js"
import { type Allocate, type OutputLine, utf8Lines } from "../domain/utf8Lines.js"
import { readTyped } from "./commands.js"
import type { ChatHandle, ChatOutcome } from "../services/Chat.js"
import { dropRepeatedConnecting, escapedLine, hhmm, pipedTextLine, renderEvent, type Style, typeHint } from "./render.js"
import { type Answered, answer, type SetInterrupt, type View } from "./view.js"

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
export class FileInput extends EventEmitter {
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
    const leave = (drainMs = DRAIN_MS, extendOnReceipt = false, viewGone = false) => {
      if (leaving && drainMs > 0) return
      leaving = true
      run(chat.leave(viewGone ? { drainMs, extendOnReceipt, viewGone } : { drainMs, extendOnReceipt }))
    }
    setInterrupt((drainMs, viewGone) => leave(drainMs, false, viewGone))
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
            // as a piped /quit leaves: /exit and "/quit " did not wait while receipts came
            if (typed._tag === "quit") return leave(DRAIN_MS, true)
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
 * after taking them: written at once, it came first (`error` for line 2, then `sent` for line 1). No event
 * is stamped before one written ahead of it.
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
  // The latest `at` given to the stream: an event said after one stamped later takes that time, so that `at`
  // never goes back (a script measures between events). The loop stamps a line's `sent` as it emits it, a
  // round after the next line was refused: the refusal, placed after it, went back a millisecond or more. A
  // listener's `rejected` is said 2 s after it was stamped, if no chat started meanwhile.
  let latest = ""
  const inOrder = (events: ReadonlyArray<ChatEvent>): ReadonlyArray<ChatEvent> => {
    let i = 0
    while (i < events.length && events[i]!.at >= latest) latest = events[i++]!.at
    if (i === events.length) return events
    return events.map((e, j) => {
      if (j < i) return e
      if (e.at >= latest) {
        latest = e.at
        return e
      }
      return { ...e, at: latest }
    })
  }
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
    if ((after <= shown || over) && waiting.length === 0) void write(inOrder([e]))
    else waiting.push({ after, event: e })
  }
  return {
    onEvents: (events: ReadonlyArray<ChatEvent>) => write(inOrder(inPlace(events))),
    report,
    /** Says what still waits (the input ended with the chat and no `sent` or end came after it). */
    flush: Effect.sync(() => {
      if (waiting.length > 0) void write(inOrder(waiting.splice(0).map((w) => w.event)))
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

