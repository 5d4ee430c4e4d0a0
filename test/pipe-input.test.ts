import { Cause, Deferred, Effect, Exit, Fiber } from "effect"
import { PassThrough, Writable } from "node:stream"
import { describe, expect, it } from "vitest"
import { makeJsonView } from "../src/cli/views.js"
import type { ChatHandle, ChatOutcome } from "../src/services/Chat.js"

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

  it("stops reading once about a megabyte of long lines waits, not only after 256 lines", async () => {
    const input = new PassThrough()
    const line = "y".repeat(64_000) + "\n"
    for (let i = 0; i < 64; i++) input.write(line)
    await Effect.runPromise(
      Effect.gen(function* () {
        const outcome = yield* Deferred.make<ChatOutcome>()
        // a chat without room: the first line's send waits for ever, the later ones wait in the view
        const { chat } = fakeChat(outcome, () => Effect.never)
        const run = yield* Effect.fork(makeJsonView(output().out, input).run(chat, () => {}))
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(run)
      })
    )
    // 4 MB offered; reading paused after about 1 MB of lines (64 lines are fewer than the 256 that pause it too):
    // the rest is still in the stream, on its writable side
    expect(input.readableLength + input.writableLength).toBeGreaterThan(2_500_000)
  })
})
