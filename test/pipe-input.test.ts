import { Cause, Deferred, Effect, Exit, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PassThrough, Writable } from "node:stream"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { colors, plain, renderEvent } from "../src/cli/render.js"
import { EMPTY_INPUT_NOTICE, FileInput, makeJsonView, makePlainView } from "../src/cli/pipeViews.js"
import type { View } from "../src/cli/view.js"
import { type ChatEvent, event, fromJsonLine } from "../src/domain/events.js"
import type { ChatHandle, ChatOutcome } from "../src/services/Chat.js"
import { InputError } from "../src/domain/errors.js"

/** A chat that records what it is given; `send` may be replaced. */
const fakeChat = (outcome: Deferred.Deferred<ChatOutcome>, send?: ChatHandle["send"]) => {
  const sent: Array<string> = []
  const chat: ChatHandle = {
    info: {} as ChatHandle["info"],
    send: send ?? ((text) => Effect.sync(() => String(sent.push(text)))),
    leave: () => Deferred.succeed(outcome, { _tag: "Left", undelivered: [] }).pipe(Effect.asVoid),
    outcome: Deferred.await(outcome)
  }
  return { chat, sent }
}

const output = () => {
  let text = ""
  const out = new Writable({
    write: (chunk, _encoding, done) => {
      text += String(chunk)
      done()
    }
  })
  return { out, text: () => text }
}

/** A stream that holds each chunk as given (no copy) and says it is written only when told. */
const heldStream = () => {
  const held: Array<{ readonly chunk: Buffer; readonly done: () => void }> = []
  const out = new Writable({ highWaterMark: 1 << 30, write: (chunk: Buffer, _encoding, done) => void held.push({ chunk, done: () => done() }) })
  return { out, held }
}

/** Runs the JSON view on `input` for 300 ms with a chat whose first send never completes: lines can only wait. */
const readWithStuckChat = (input: PassThrough) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const outcome = yield* Deferred.make<ChatOutcome>()
      const { chat } = fakeChat(outcome, () => Effect.never)
      const run = yield* Effect.fork(makeJsonView(output().out, input).run(chat, () => {}))
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(run)
    })
  )

describe("pipe mode's input", () => {
  it("sends the lines in order, refuses a line over the limit with one error event, and leaves at the end", async () => {
    const input = new PassThrough()
    const { out, text } = output()
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        const { chat, sent } = fakeChat(outcome)
        input.write("one\r\ntw")
        input.write("o\n" + "x".repeat(70_000) + "\nthree")
        input.end()
        const end = yield* makeJsonView(out, input).run(chat, () => {})
        return { end, sent }
      })
    )
    expect(result.sent).toEqual(["one", "two", "three"])
    expect(result.end._tag).toBe("Left")
    expect(text()).toContain("That message is 70000 bytes")
  })

  it("a bug in sending (a defect) ends the run with it, rather than leaving the chat without its input", async () => {
    const input = new PassThrough()
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        // a chat that never ends by itself: without the fix the run waits for it for ever
        const outcome = yield* Deferred.make<ChatOutcome>()
        const { chat } = fakeChat(outcome, () => Effect.die(new RangeError("a bug in send")))
        input.write("a line\n")
        return yield* makeJsonView(output().out, input).run(chat, () => {})
      }).pipe(Effect.timeout("5 seconds"))
    )
    expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("a bug in send")
    // reading stopped: nothing holds the input any more
    expect(input.listenerCount("data")).toBe(0)
  })

  it("a read holding far more lines than may wait is cut as the chat takes them: every line, in order", async () => {
    const input = new PassThrough()
    // two chunks of 30,000 lines each (as 512 KiB reads from a file of short lines are); 256 may wait at a time
    const lines = Array.from({ length: 60_000 }, (_, i) => `line ${i}`)
    input.write(lines.slice(0, 30_000).join("\n") + "\n")
    input.end(lines.slice(30_000).join("\n") + "\n")
    const sent: Array<string> = []
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        // a chat that lets others run before it takes each line
        const { chat } = fakeChat(outcome, (text) => Effect.zipRight(Effect.yieldNow(), Effect.sync(() => String(sent.push(text)))))
        return yield* makeJsonView(output().out, input).run(chat, () => {})
      }).pipe(Effect.timeout("20 seconds"))
    )
    expect(result._tag).toBe("Left")
    expect(sent.length).toBe(lines.length)
    expect(sent).toEqual(lines)
  })

  it("lines of any length and break, read in chunks of any size, are each sent whole, in order", async () => {
    // lengths around the 64 KiB slices a read is cut into and the 65,536-byte limit; all three line breaks
    const aLine = fc.tuple(
      fc.constantFrom(1, 7, 100, 30_000, 65_534, 65_535, 65_536),
      fc.constantFrom("\n", "\r\n", "\r"),
      fc.constantFrom("a", "é")
    )
    await fc.assert(
      fc.asyncProperty(fc.array(aLine, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1 }), async (spec, sizes) => {
        // "é" is two bytes: its lines are half as many characters, within the limit
        const lines = spec.map(([bytes, , c], i) => `${i}`.padEnd(c === "a" ? bytes : Math.floor(bytes / 2), c))
        const all = Buffer.from(spec.map(([, brk], i) => lines[i] + brk).join(""))
        const input = new PassThrough()
        for (let at = 0, k = 0; at < all.length; at += sizes[k++ % sizes.length]!) input.write(all.subarray(at, at + sizes[k % sizes.length]!))
        input.end()
        const sent = await Effect.runPromise(
          Effect.gen(function* () {
            const outcome = yield* Deferred.make<ChatOutcome>()
            const { chat, sent } = fakeChat(outcome)
            yield* makeJsonView(output().out, input).run(chat, () => {})
            return sent
          }).pipe(Effect.timeout("20 seconds"))
        )
        expect(sent).toEqual(lines)
      }),
      { numRuns: 60 }
    )
  })

  it("stops reading once about a megabyte of long lines waits, not only after 256 lines", async () => {
    const input = new PassThrough()
    const line = "y".repeat(64_000) + "\n"
    for (let i = 0; i < 64; i++) input.write(line)
    // a chat without room: the first line's send waits for ever, the later ones wait in the view
    await readWithStuckChat(input)
    // 4 MB offered; reading paused after about 1 MB of lines (64 lines are fewer than the 256 that pause it too):
    // the rest is still in the stream, on its writable side
    expect(input.readableLength + input.writableLength).toBeGreaterThan(2_500_000)
  })

  /**
   * A chat that, as the real one, says `sent` a round after taking a line, stamped as it says it: its loop
   * emits what was taken every few milliseconds (`rounds`; else all at the end, as a loop busy until then).
   * `ended`: it takes nothing and ends with its `disconnected` a little later.
   */
  const emittingChat = (view: View, ended = false, rounds = true) =>
    Effect.gen(function* () {
      const outcome = yield* Deferred.make<ChatOutcome>()
      const taken: Array<Parameters<typeof event>[0]> = []
      let id = 0
      const emitted = () => taken.splice(0).map((e) => event(e))
      const round = Effect.suspend(() => view.onEvents(emitted()))
      if (rounds) yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep("5 millis"), round)))
      const chat: ChatHandle = {
        info: {} as ChatHandle["info"],
        send: (text) =>
          ended
            ? Effect.fail({ _tag: "SendRefused", reason: "Ended", message: "The chat is over; nothing was sent." })
            : text === ""
              ? Effect.fail({ _tag: "SendRefused", reason: "Empty", message: "An empty message is not sent." })
              : Effect.sync(() => {
                  taken.push({ _tag: "sent", id: String(++id), text })
                  return String(id)
                }),
        leave: () =>
          Effect.zipRight(
            Effect.sleep("20 millis"),
            Effect.zipRight(
              Effect.suspend(() => view.onEvents([...emitted(), event({ _tag: "disconnected", reason: "left", undelivered: [] })])),
              Deferred.succeed(outcome, { _tag: "Left", undelivered: [] })
            )
          ).pipe(Effect.forkDaemon, Effect.asVoid),
        outcome: Deferred.await(outcome)
      }
      return chat
    })

  it.each([
    ["every few milliseconds", true],
    ["all at the end (stamped after every refusal)", false]
  ])(
    "a refused line's error names the line, comes after the `sent` events of the lines before it and is never stamped before them: `sent` said %s",
    async (_, rounds) => {
      const input = new PassThrough()
      const { out, text } = output()
      const view = makeJsonView(out, input)
      input.end("one\n\ntwo\n" + "x".repeat(70_000) + "\nthree\n")
      await Effect.runPromise(Effect.scoped(Effect.flatMap(emittingChat(view, false, rounds), (chat) => view.run(chat, () => {}))))
      const events = text().trim().split("\n").map(fromJsonLine)
      const said = events.map((e) => (e._tag === "sent" ? `sent ${e.text}` : e._tag === "error" ? `error line ${e.line}` : e._tag))
      expect(said).toEqual(["sent one", "error line 2", "sent two", "error line 4", "sent three", "disconnected"])
      // `at` never goes back, though the refusals happened as the input was read, before the `sent` were stamped
      const at = events.map((e) => e.at)
      expect(at).toEqual([...at].sort())
    }
  )

  it("as text: the line's number, in its place", async () => {
    const input = new PassThrough()
    const { out, text } = output()
    const view = makePlainView(out, plain, input)
    input.end("one\n\ntwo\n")
    await Effect.runPromise(Effect.scoped(Effect.flatMap(emittingChat(view), (chat) => view.run(chat, () => {}))))
    const said = text().trim().split("\n")
    // each sent line with the id that its "Delivered" line, or the list of unconfirmed ones, names
    expect(said[0]).toMatch(/^Sent \d\d:\d\d #1 +one$/)
    expect(said[1]).toMatch(/^\[\d\d:\d\d:\d\d\] Line 2: An empty message is not sent\.$/)
    expect(said[2]).toMatch(/^Sent \d\d:\d\d #2 +two$/)
  })

  it("a refusal because the chat is over is said once, naming the first line not sent", async () => {
    const input = new PassThrough()
    const { out, text } = output()
    const view = makeJsonView(out, input)
    input.end("a\nb\nc\n")
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const chat = yield* emittingChat(view, true)
          const run = yield* Effect.fork(view.run(chat, () => {}))
          yield* chat.leave()
          return yield* Fiber.join(run)
        })
      )
    )
    const errors = text()
      .trim()
      .split("\n")
      .map(fromJsonLine)
      .filter((e) => e._tag === "error")
    expect(errors).toMatchObject([{ code: "SendRefused", line: 1 }])
  })

  it("--stay: the end of input does not leave; the chat ends as the peer ends it", async () => {
    const input = new PassThrough()
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        const { chat, sent } = fakeChat(outcome)
        input.end("only line\n")
        const run = yield* Effect.fork(makeJsonView(output().out, input, { stay: true }).run(chat, () => {}))
        yield* Effect.sleep("200 millis")
        // without --stay, leave() had ended the chat by now
        const stillOn = !(yield* Deferred.isDone(outcome))
        yield* Deferred.succeed(outcome, { _tag: "PeerLeft", reason: "bye", undelivered: [] })
        return { stillOn, end: yield* Fiber.join(run), sent }
      })
    )
    expect(result.stillOn).toBe(true)
    expect(result.sent).toEqual(["only line"])
    expect(result.end._tag).toBe("PeerLeft")
  })

  it("an empty input leaves at once, and the plain view says why and how to stay; not when lines came", async () => {
    const plainRun = (text: string) => {
      const input = new PassThrough()
      const { out, text: said } = output()
      input.end(text)
      return Effect.runPromise(
        Effect.gen(function* () {
          const outcome = yield* Deferred.make<ChatOutcome>()
          const end = yield* makePlainView(out, plain, input).run(fakeChat(outcome).chat, () => {})
          return { end: end._tag, said: said() }
        })
      )
    }
    const empty = await plainRun("")
    expect(empty.end).toBe("Left")
    expect(empty.said).toContain(EMPTY_INPUT_NOTICE)
    expect(EMPTY_INPUT_NOTICE).toContain("--stay")
    expect((await plainRun("a line\n")).said).not.toContain(EMPTY_INPUT_NOTICE)
  })

  it("lines typed by a person (a dumb terminal) are read as commands; piped lines are all messages", async () => {
    const lines = "/help\n/verify\n/nope\n   \n//slash\nhello\n/exit\nafter\n"
    const run = (typed: boolean) => {
      const input = new PassThrough()
      const { out, text } = output()
      input.end(lines)
      return Effect.runPromise(
        Effect.gen(function* () {
          const outcome = yield* Deferred.make<ChatOutcome>()
          const { chat, sent } = fakeChat(outcome)
          yield* makePlainView(out, plain, input, { typed }).run(chat, () => {})
          return { sent, said: text() }
        })
      )
    }
    const person = await run(true)
    expect(person.sent).toEqual(["/slash", "hello"])
    expect(person.said).toContain("/verify   show the fingerprints")
    expect(person.said).toContain("No session yet.")
    expect(person.said).toContain("Unknown command /nope")
    const pipe = await run(false)
    // an empty line is refused as ever; /quit alone leaves a pipe
    expect(pipe.sent).toEqual(["/help", "/verify", "/nope", "   ", "//slash", "hello", "/exit", "after"])
    expect(pipe.said).not.toContain("Commands:")
  })

  it("--stay with input that cannot be read (nohup's): the error is said, the chat's outcome stays its own", async () => {
    const input = new PassThrough()
    const { out, text } = output()
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        const { chat } = fakeChat(outcome)
        const run = yield* Effect.fork(makeJsonView(out, input, { stay: true }).run(chat, () => {}))
        yield* Effect.sleep("20 millis")
        input.destroy(Object.assign(new Error("EBADF: bad file descriptor, read"), { code: "EBADF" }))
        yield* Effect.sleep("100 millis")
        const stillOn = !(yield* Deferred.isDone(outcome))
        yield* Deferred.succeed(outcome, { _tag: "PeerLeft", reason: "bye", undelivered: [] })
        return { stillOn, end: yield* Fiber.join(run) }
      })
    )
    expect(result.stillOn).toBe(true)
    // it was Failed (exit code 1) after a chat that ended as the peer left
    expect(result.end._tag).toBe("PeerLeft")
    expect(text()).toContain('"code":"InputError"')
  })

  it("an output buffer is used again only once the stream has written it", async () => {
    const { out, held } = heldStream()
    const view = makeJsonView(out, new PassThrough())
    const message = (c: string) => [event({ _tag: "message", id: c, text: c.repeat(5000) }, "2026-11-27T05:00:00.000Z")]
    const shown = (chunk: Buffer) => fromJsonLine(chunk.toString("utf8").trimEnd())
    // both written at once: the second waits in the stream, behind the first, which is not yet written
    const first = Effect.runPromise(view.onEvents(message("a")))
    const second = Effect.runPromise(view.onEvents(message("b")))
    expect(held.length).toBe(1)
    held[0]!.done()
    await first
    expect(held.length).toBe(2)
    held[1]!.done()
    await second
    expect(held.map(({ chunk }) => shown(chunk))).toEqual([message("a")[0], message("b")[0]])
    // once written, its memory carries the next batch
    const third = Effect.runPromise(view.onEvents(message("c")))
    expect([held[0]!.chunk.buffer, held[1]!.chunk.buffer]).toContain(held[2]!.chunk.buffer)
    held[2]!.done()
    await third
    expect(shown(held[2]!.chunk)).toEqual(message("c")[0])
  })

  it("the plain view writes sent and received texts as renderEvent's lines, byte for byte, escapes and all", async () => {
    // long texts (the fast path) and short ones, with what the terminal must not obey (controls, DEL, C1, bidi
    // overrides), what it may (tabs, made spaces; accents, emoji) and lone surrogates, at random places
    const special = fc.constantFrom("\u0000", "\t", "\n", "\u001b[2J", "\u007f", "\u0085", "\u202e", "\u2066", "é", "😀", "\ud800", '"', "\\")
    const text = fc
      .tuple(fc.constantFrom(5, 1023, 1024, 3000), fc.array(fc.tuple(fc.nat(), special), { maxLength: 2 }))
      .map(([length, inserts]) => {
        let t = "y".repeat(length)
        for (const [at, c] of inserts) t = t.slice(0, at % (t.length + 1)) + c + t.slice(at % (t.length + 1))
        return t
      })
    const anEvent = fc.tuple(text, fc.boolean(), fc.integer({ min: 1, max: 99_999 })).map(
      ([t, sent, n]): ChatEvent =>
        sent
          ? event({ _tag: "sent", id: String(n), text: t }, "2026-11-27T05:00:00.000Z")
          : event({ _tag: "message", id: `in-${n}`, text: t }, "2026-11-27T05:00:00.000Z")
    )
    await fc.assert(
      fc.asyncProperty(fc.array(anEvent, { minLength: 1, maxLength: 4 }), fc.boolean(), async (events, coloured) => {
        const style = coloured ? colors : plain
        const chunks: Array<Buffer> = []
        const out = new Writable({
          write: (chunk, _encoding, done) => {
            chunks.push(Buffer.from(chunk))
            done()
          }
        })
        const view = makePlainView(out, style, new PassThrough())
        await Effect.runPromise(view.onEvents(events))
        const expected = Buffer.from(events.flatMap((e) => renderEvent(e, style)).join("\n") + "\n", "utf8")
        expect(Buffer.concat(chunks).equals(expected)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  /** A chat whose `leave` only records how it was asked to leave; the test ends it. */
  const recordingChat = (outcome: Deferred.Deferred<ChatOutcome>, send?: ChatHandle["send"]) => {
    const leaves: Array<{ readonly drainMs?: number; readonly extendOnReceipt?: boolean }> = []
    const { chat, sent } = fakeChat(outcome, send)
    return {
      chat: {
        ...chat,
        leave: (options = {}) =>
          Effect.zipRight(
            Effect.sync(() => void leaves.push(options)),
            Deferred.succeed(outcome, { _tag: "Left", undelivered: [] })
          )
      } satisfies ChatHandle,
      sent,
      leaves
    }
  }

  it("how each way out leaves: the end of input and /quit wait while receipts come (10 s after the last), typed or piped", async () => {
    const leaving = (text: string, options: { typed?: boolean; stay?: boolean } = {}) => {
      const input = new PassThrough()
      input.end(text)
      return Effect.runPromise(
        Effect.gen(function* () {
          const outcome = yield* Deferred.make<ChatOutcome>()
          const { chat, sent, leaves } = recordingChat(outcome)
          const end = yield* makePlainView(output().out, plain, input, options).run(chat, () => {})
          return { end: end._tag, sent, leaves }
        }).pipe(Effect.timeout("5 seconds"))
      )
    }
    expect(await leaving("a\nb\n")).toEqual({ end: "Left", sent: ["a", "b"], leaves: [{ drainMs: 10_000, extendOnReceipt: true }] })
    // /quit in a pipe: the lines after it are not sent
    expect(await leaving("a\n/quit\nb\n")).toEqual({ end: "Left", sent: ["a"], leaves: [{ drainMs: 10_000, extendOnReceipt: true }] })
    // typed, /exit and "/quit " leave as /quit does (they waited 10 s at most, receipts or not)
    for (const quit of ["/quit", "/exit", "/quit "])
      expect(await leaving(`a\n${quit}\nb\n`, { typed: true })).toEqual({ end: "Left", sent: ["a"], leaves: [{ drainMs: 10_000, extendOnReceipt: true }] })
    // a person's Ctrl-D leaves even with --stay (only piped input stays open)
    expect(await leaving("a\n", { typed: true, stay: true })).toMatchObject({ end: "Left", sent: ["a"] })
  })

  it("once leaving (Ctrl-C), the lines still waiting are not sent", async () => {
    const input = new PassThrough()
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        const firstTaken = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const sent: Array<string> = []
        const send: ChatHandle["send"] = (text) =>
          Effect.gen(function* () {
            sent.push(text)
            if (sent.length === 1) {
              yield* Deferred.succeed(firstTaken, undefined)
              yield* Deferred.await(release)
            }
            return String(sent.length)
          })
        // a leave that takes its time (a drain): the chat is not over yet
        const chat: ChatHandle = { ...fakeChat(outcome, send).chat, leave: () => Effect.void }
        let interrupt: (drainMs?: number) => void = () => {}
        input.write("one\ntwo\nthree\n")
        const run = yield* Effect.fork(makeJsonView(output().out, input).run(chat, (f) => (interrupt = f)))
        yield* Deferred.await(firstTaken)
        interrupt()
        yield* Deferred.succeed(release, undefined)
        yield* Effect.sleep("100 millis")
        yield* Deferred.succeed(outcome, { _tag: "Left", undelivered: [] })
        yield* Fiber.join(run)
        return sent
      }).pipe(Effect.timeout("5 seconds"))
    )
    expect(result).toEqual(["one"])
  })

  it("stops reading once 256 short lines wait, however the reads came", async () => {
    const input = new PassThrough()
    // 1,000 lines of 5 bytes in 100 writes: each read is far under the megabyte that also pauses reading
    for (let i = 0; i < 100; i++) input.write("line\n".repeat(10))
    await readWithStuckChat(input)
    // at least the lines over 256 (and a read's worth more) are still in the stream
    expect(input.readableLength + input.writableLength).toBeGreaterThanOrEqual((1_000 - 256 - 10) * 5)
  })

  it("unreadable input: said once as an error, not also as an empty input; after the chat, not at all", async () => {
    const input = new PassThrough()
    const { out, text } = output()
    const end = await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        const run = yield* Effect.fork(makePlainView(out, plain, input).run(fakeChat(outcome).chat, () => {}))
        yield* Effect.sleep("20 millis")
        input.destroy(Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" }))
        return yield* Fiber.join(run)
      }).pipe(Effect.timeout("5 seconds"))
    )
    expect(end._tag).toBe("Failed")
    expect(text()).toContain("Could not read standard input (EIO: i/o error, read)")
    expect(text()).not.toContain(EMPTY_INPUT_NOTICE)
    // a read error once the chat is over: nothing more is said (it came after the chat's last event)
    const later = new PassThrough()
    const after = output()
    const view = makeJsonView(after.out, later)
    later.end("a\n")
    await Effect.runPromise(Effect.scoped(Effect.flatMap(emittingChat(view), (chat) => view.run(chat, () => {}))))
    const before = after.text()
    expect(before.trimEnd().split("\n").map((line) => fromJsonLine(line)._tag)).toEqual(["sent", "disconnected"])
    later.emit("error", new Error("EIO: i/o error, read"))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(after.text()).toBe(before)
  })

  it("a chat that failed keeps its own failure when the input failed too", async () => {
    const input = new PassThrough()
    const own: ChatOutcome = { _tag: "Failed", error: new InputError({ detail: "the chat's own" }), undelivered: ["3"] }
    const end = await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        // its leave (at the input's end) does not end it: it fails on its own
        const chat: ChatHandle = { ...fakeChat(outcome).chat, leave: () => Effect.void }
        const run = yield* Effect.fork(makeJsonView(output().out, input).run(chat, () => {}))
        yield* Effect.sleep("20 millis")
        input.destroy(new Error("EIO: i/o error, read"))
        yield* Effect.sleep("20 millis")
        yield* Deferred.succeed(outcome, own)
        return yield* Fiber.join(run)
      }).pipe(Effect.timeout("5 seconds"))
    )
    expect(end).toBe(own)
  })

  it.each([
    ["with its end event", true],
    ["with none (the view's last word)", false]
  ])("a refusal still waiting for the `sent` before it when the chat ends is said, not stamped before what came first: %s", async (_, end) => {
    const input = new PassThrough()
    const { out, text } = output()
    const view = makeJsonView(out, input)
    await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        // a chat that takes lines and ends before it says they were sent
        const { chat } = fakeChat(outcome)
        const run = yield* Effect.fork(view.run({ ...chat, leave: () => Effect.void }, () => {}))
        input.write("a\n" + "x".repeat(70_000) + "\n")
        yield* Effect.sleep("100 millis")
        // shown meanwhile, stamped after the refusal: the refusal, placed after it, takes its time
        yield* view.onEvents([event({ _tag: "message", id: "1", text: "hi" })])
        if (end) yield* view.onEvents([event({ _tag: "disconnected", reason: "connection lost", undelivered: ["1"] })])
        yield* Deferred.succeed(outcome, { _tag: "Failed", error: new InputError({ detail: "x" }), undelivered: ["1"] })
        yield* Fiber.join(run)
      }).pipe(Effect.timeout("5 seconds"))
    )
    const events = text().trim().split("\n").map(fromJsonLine)
    expect(events.map((e) => e._tag)).toEqual(end ? ["message", "error", "disconnected"] : ["message", "error"])
    expect(events[1]!.at).toBe(events[0]!.at)
  })

  it("with the clock set back, what comes next is stamped with the last time written", async () => {
    const input = new PassThrough()
    const { out, text } = output()
    const view = makeJsonView(out, input)
    const ahead = new Date(Date.now() + 3_600_000).toISOString()
    input.end("\n")
    await Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(emittingChat(view), (chat) =>
          // written before the clock was set back an hour
          Effect.zipRight(view.onEvents([event({ _tag: "message", id: "1", text: "hi" }, ahead)]), view.run(chat, () => {}))
        )
      )
    )
    const said = text().trim().split("\n").map(fromJsonLine)
    // the refusal of the empty line, written at once, and the end
    expect(said.map((e) => [e._tag, e.at])).toEqual([
      ["message", ahead],
      ["error", ahead],
      ["disconnected", ahead]
    ])
  })
})

describe("pipe mode's output", () => {
  const messages = (c: string, count: number, length: number) =>
    Array.from({ length: count }, (_, i) => event({ _tag: "message", id: `${c}${i}`, text: c.repeat(length) }, "2026-11-27T05:00:00.000Z"))
  const shown = (chunk: Buffer) => chunk.toString("utf8").trimEnd().split("\n").map(fromJsonLine)

  it("an event stamped before one already written (a listener's `rejected`, said 2 s late) takes its time: `at` never goes back", async () => {
    const { out, text } = output()
    const view = makeJsonView(out, new PassThrough())
    const at = (s: number) => `2026-11-27T05:00:0${s}.000Z`
    await Effect.runPromise(view.onEvents([event({ _tag: "connecting", address: "192.0.2.7", port: 8000 }, at(3))]))
    await Effect.runPromise(
      view.onEvents([
        event({ _tag: "rejected", peer: "192.0.2.7:41000", reason: "it closed the connection", role: "listener" }, at(1)),
        event({ _tag: "connecting", address: "192.0.2.7", port: 8000 }, at(2)),
        event({ _tag: "connecting", address: "192.0.2.7", port: 8000 }, at(4))
      ])
    )
    await Effect.runPromise(view.onEvents([event({ _tag: "connecting", address: "192.0.2.7", port: 8000 }, at(3))]))
    const said = text().trim().split("\n").map(fromJsonLine)
    expect(said.map((e) => [e._tag, e.at])).toEqual([
      ["connecting", at(3)],
      ["rejected", at(3)],
      ["connecting", at(3)],
      ["connecting", at(4)],
      ["connecting", at(4)]
    ])
  })

  it("a buffer kept for reuse is lent to one write at a time, and only to a batch it can hold", async () => {
    const { out, held } = heldStream()
    const view = makeJsonView(out, new PassThrough())
    const write = (events: ReadonlyArray<ChatEvent>) => {
      const written = Effect.runPromise(view.onEvents(events))
      held[held.length - 1]!.done()
      return written
    }
    // a small batch's buffer (64 KiB) is kept; a batch of 200 KB after it gets memory of its own, whole
    await write(messages("a", 1, 5000))
    await write(messages("b", 40, 5000))
    expect(shown(held[1]!.chunk)).toEqual(messages("b", 40, 5000))
    // two batches at once, both small enough for the buffer kept: one gets it, the other memory of its own (the
    // second is rendered at once, and waits in the stream behind the first)
    const c = Effect.runPromise(view.onEvents(messages("c", 1, 5000)))
    const d = Effect.runPromise(view.onEvents(messages("d", 5, 5000)))
    expect(shown(held[2]!.chunk)).toEqual(messages("c", 1, 5000))
    held[2]!.done()
    await c
    expect(held[2]!.chunk.buffer === held[3]!.chunk.buffer).toBe(false)
    expect(shown(held[3]!.chunk)).toEqual(messages("d", 5, 5000))
    held[3]!.done()
    await d
  })

  it("a batch over 4 MiB is written from memory that is not kept after it", async () => {
    const { out, held } = heldStream()
    const view = makeJsonView(out, new PassThrough())
    const big = Effect.runPromise(view.onEvents(messages("a", 80, 60_000)))
    held[0]!.done()
    await big
    expect(held[0]!.chunk.length).toBeGreaterThan(4 * 1024 * 1024)
    const small = Effect.runPromise(view.onEvents(messages("b", 1, 100)))
    held[1]!.done()
    await small
    expect(held[1]!.chunk.buffer === held[0]!.chunk.buffer).toBe(false)
  })

  it("a write that fails never completes: what it carried was not shown, so the chat must not acknowledge it", async () => {
    const out = new Writable({ write: (_chunk, _encoding, done) => done(Object.assign(new Error("EPIPE"), { code: "EPIPE" })) })
    out.on("error", () => {})
    const view = makeJsonView(out, new PassThrough())
    const written = await Effect.runPromise(Effect.timeout(view.onEvents(messages("a", 1, 10)), "200 millis").pipe(Effect.option))
    expect(written._tag).toBe("None")
  })
})

describe("a file on standard input", () => {
  it("is read whole and in order, one read at a time into its one buffer, none while paused", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-file-input-")), "lines")
    // about 3 MB: six reads of 512 KiB
    const content = Buffer.from(Array.from({ length: 400_000 }, (_, i) => `line ${i}\n`).join(""))
    fs.writeFileSync(file, content)
    const fd = fs.openSync(file, "r")
    try {
      const input = new FileInput(fd)
      const chunks: Array<Buffer> = []
      let paused = false
      let whilePaused = 0
      await new Promise<void>((resolve, reject) => {
        input.on("error", reject)
        input.on("end", resolve)
        input.on("data", (chunk) => {
          if (paused) whilePaused++
          // the buffer is used again by the next read: copied here, as a reader of it must
          chunks.push(Buffer.from(chunk))
          input.pause()
          paused = true
          setTimeout(() => {
            paused = false
            // twice: a second resume while a read is under way must not start another into the same buffer
            input.resume()
            input.resume()
          }, 2)
        })
      })
      expect(chunks.length).toBeGreaterThanOrEqual(6)
      expect(whilePaused).toBe(0)
      expect(Buffer.concat(chunks).equals(content)).toBe(true)
    } finally {
      fs.closeSync(fd)
      fs.rmSync(path.dirname(file), { recursive: true })
    }
  })
})
