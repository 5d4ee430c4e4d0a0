import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as readline from "node:readline"
import { Readable } from "node:stream"
import { lineSplitter, type TooLong } from "../src/domain/lines.js"

// bytes that matter for cutting lines: both breaks (often, so that chunks often end or start with one), ASCII,
// a two-byte character, stray continuation and lead bytes (malformed UTF-8), and a four-byte character that
// chunks may split
const BYTES = [0x0a, 0x0d, 0x0a, 0x0d, 0x61, 0x62, 0xc3, 0xa9, 0x80, 0xf0, 0x9f, 0x98, 0x80]
/** Input as the reads from a pipe hand it over: chunks of any size, empty ones too. */
const chunked = fc.array(fc.array(fc.constantFrom(...BYTES), { maxLength: 30 }), { maxLength: 12 })
const toChunks = (chunks: ReadonlyArray<ReadonlyArray<number>>): Array<Buffer> => chunks.map((c) => Buffer.from(c))

const split = (chunks: ReadonlyArray<Buffer>, maxBytes: number) => {
  const splitter = lineSplitter(maxBytes)
  const lines: Array<string | TooLong> = []
  for (const c of chunks) {
    lines.push(...splitter.push(c))
    // never more than the limit held, whatever the input
    expect(splitter.held()).toBeLessThanOrEqual(maxBytes)
  }
  lines.push(...splitter.end())
  return lines
}

/** What node's readline makes of the same chunks (crlfDelay: Infinity, as p2pchat's pipe mode had it). */
const readlineLines = async (chunks: ReadonlyArray<Buffer>): Promise<Array<string>> => {
  const rl = readline.createInterface({ input: Readable.from(chunks), crlfDelay: Infinity, terminal: false })
  const lines: Array<string> = []
  for await (const line of rl) lines.push(line)
  return lines
}

describe("cutting piped input into lines", () => {
  it("gives readline's lines, however the input is chunked, with malformed UTF-8 replaced as readline does", async () => {
    await fc.assert(
      fc.asyncProperty(chunked, async (parts) => {
        // without empty chunks, which a pipe never delivers: readline takes one as the end of a "\r\n" it is in
        const chunks = toChunks(parts.filter((p) => p.length > 0))
        const bytes = parts.flat()
        // one difference, on purpose: readline drops an unfinished character at the very end of the input
        // (its decoder waits for the rest), where the splitter keeps it as U+FFFD. A final line break given to
        // readline alone makes it show that character too, and changes nothing else.
        const last = bytes.at(-1)
        const closed = last === undefined || last === 0x0a || last === 0x0d ? chunks : [...chunks, Buffer.from("\n")]
        expect(split(chunks, 1_000)).toEqual(await readlineLines(closed))
      }),
      { numRuns: 300 }
    )
  })

  it("keeps its own copy of an unfinished line: a caller may read the next chunk into the same buffer", () => {
    const splitter = lineSplitter(1_000)
    const buffer = Buffer.alloc(8)
    buffer.write("first pa")
    expect(splitter.push(buffer)).toEqual([])
    // as a file reader does, its one buffer filled again
    buffer.write("rt\nnext\n")
    expect(splitter.push(buffer)).toEqual(["first part", "next"])
  })

  it("reports a line over the limit by its length without keeping it, and goes on with the next", () => {
    fc.assert(
      fc.property(chunked, fc.integer({ min: 1, max: 30 }), (parts, maxBytes) => {
        const bytes = parts.flat()
        // the lines without a limit (checked against readline above), and each line's bytes as received
        const texts = split([Buffer.from(bytes)], Number.MAX_SAFE_INTEGER)
        const sizes = rawLines(bytes)
        expect(texts).toHaveLength(sizes.length)
        const expected = texts.map((text, i) => (sizes[i]! > maxBytes ? { _tag: "TooLong", bytes: sizes[i] } : text))
        expect(split(toChunks(parts), maxBytes)).toEqual(expected)
      }),
      { numRuns: 500 }
    )
  })

  it("a 100 MB line without a break is counted, never held: the line after it comes through", () => {
    const splitter = lineSplitter(64 * 1024)
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    for (let i = 0; i < 1_600; i++) expect(splitter.push(chunk)).toEqual([])
    expect(splitter.held()).toBe(0)
    expect(splitter.push(Buffer.from("\nnext\n"))).toEqual([{ _tag: "TooLong", bytes: 1_600 * 64 * 1024 }, "next"])
    expect(splitter.end()).toEqual([])
  })

  it("keeps a line that ends without a break for the end of input, and a break split as \\r | \\n stays one", () => {
    const splitter = lineSplitter(100)
    expect(splitter.push(Buffer.from("one\r"))).toEqual(["one"])
    expect(splitter.push(Buffer.from("\ntwo\rthree"))).toEqual(["two"])
    expect(splitter.end()).toEqual(["three"])
  })
})

/** Byte length of each line of `bytes` as received, by a plain scan (the reference for the limit). */
const rawLines = (bytes: ReadonlyArray<number>): Array<number> => {
  const sizes: Array<number> = []
  let size = 0
  let open = false
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b === 0x0a || b === 0x0d) {
      sizes.push(size)
      size = 0
      open = false
      if (b === 0x0d && bytes[i + 1] === 0x0a) i++
    } else {
      size++
      open = true
    }
  }
  if (open) sizes.push(size)
  return sizes
}
