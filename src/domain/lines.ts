import { asBuffer } from "./bytes.js"

/**
 * Input bytes cut into lines, as readline cuts them with `crlfDelay: Infinity` (a line ends at "\n", "\r\n"
 * or a lone "\r"; a last line without a break counts at the end of input), but bounded: of a line longer
 * than `maxBytes` only its length is kept. readline holds a whole line, however long, as one string: a
 * piped file without line breaks grew the process by its size and, past V8's longest string (about
 * 512 MiB), crashed it with a stack trace.
 */

/** A line longer than the limit: how many bytes it had (none of them kept). */
export interface TooLong {
  readonly _tag: "TooLong"
  readonly bytes: number
}

export interface LineSplitter {
  /** The lines that `chunk` completes, in order. */
  readonly push: (chunk: Uint8Array) => Array<string | TooLong>
  /** At the end of input: the last line, if it had no line break. */
  readonly end: () => Array<string | TooLong>
  /** Bytes of the unfinished line held now: at most `maxBytes`. */
  readonly held: () => number
}

const LF = 0x0a
const CR = 0x0d

/**
 * Malformed UTF-8 becomes U+FFFD, as readline's decoder does. Lines are cut at byte values that never occur
 * inside a multi-byte character, so a character split across chunks is decoded whole.
 */
export const lineSplitter = (maxBytes: number): LineSplitter => {
  // the unfinished line: its pieces (copies, so that a chunk is not kept alive by a view) while it is within
  // the limit, and its length in bytes in any case
  let pieces: Array<Buffer> = []
  let length = 0
  // the last chunk ended with "\r": a "\n" that starts the next one belongs to that line break
  let afterCr = false

  const finish = (out: Array<string | TooLong>, chunk: Buffer, start: number, end: number) => {
    const total = length + (end - start)
    if (total > maxBytes) out.push({ _tag: "TooLong", bytes: total })
    else if (pieces.length === 0) out.push(chunk.toString("utf8", start, end))
    else out.push(Buffer.concat([...pieces, chunk.subarray(start, end)]).toString("utf8"))
    pieces = []
    length = 0
  }

  const keep = (chunk: Buffer, start: number) => {
    if (start >= chunk.length) return
    length += chunk.length - start
    if (length <= maxBytes) pieces.push(Buffer.from(chunk.subarray(start)))
    // over the limit: from now on the line is only counted
    else if (pieces.length > 0) pieces = []
  }

  return {
    push: (bytes) => {
      const out: Array<string | TooLong> = []
      if (bytes.length === 0) return out
      const chunk = asBuffer(bytes)
      let start = 0
      if (afterCr) {
        afterCr = false
        if (chunk[0] === LF) start = 1
      }
      let cr = chunk.indexOf(CR, start)
      let lf = chunk.indexOf(LF, start)
      for (;;) {
        if (cr !== -1 && cr < start) cr = chunk.indexOf(CR, start)
        if (lf !== -1 && lf < start) lf = chunk.indexOf(LF, start)
        const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf)
        if (end === -1) break
        finish(out, chunk, start, end)
        start = end + 1
        if (end === cr) {
          if (start === chunk.length) afterCr = true
          else if (chunk[start] === LF) start++
        }
      }
      keep(chunk, start)
      return out
    },
    end: () => {
      const out: Array<string | TooLong> = []
      afterCr = false
      if (length > 0) finish(out, Buffer.alloc(0), 0, 0)
      return out
    },
    // while kept, the pieces are the whole line so far
    held: () => (pieces.length > 0 ? length : 0)
  }
}
