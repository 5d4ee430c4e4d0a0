/**
 * Output lines written straight to UTF-8. A line that carries a long text is given in three pieces, and the
 * text is encoded once, into its place, then checked there; joining it into a line and the lines into one
 * string before encoding that read or copied a 64 KiB text five times (120 against 50 µs a line, a quarter
 * of the CPU of a CLI piping a file, measured).
 */

/** A line as it is, or the two ends of a line and a text that goes between them if `plain` finds it so. */
export type OutputLine = string | readonly [head: string, text: string, tail: string]

/**
 * The lines, each followed by "\n", as UTF-8; undefined when some line's text is not `plain` (then the caller
 * renders the lines its own, slower way).
 */
export const utf8Lines = (lines: ReadonlyArray<OutputLine>, plain: (text: Buffer) => boolean): Buffer | undefined => {
  let bytes = 0
  for (const line of lines) {
    bytes += typeof line === "string" ? Buffer.byteLength(line, "utf8") + 1 : byteLengths(line)
  }
  // every byte is written below: no need to zero it first
  const out = Buffer.allocUnsafe(bytes)
  let offset = 0
  for (const line of lines) {
    if (typeof line === "string") offset += out.write(line, offset, "utf8")
    else {
      offset += out.write(line[0], offset, "utf8")
      const end = offset + out.write(line[1], offset, "utf8")
      if (!plain(out.subarray(offset, end))) return undefined
      offset = end + out.write(line[2], end, "utf8")
    }
    out[offset++] = 0x0a
  }
  return out
}

const byteLengths = ([head, text, tail]: readonly [string, string, string]) =>
  Buffer.byteLength(head, "utf8") + Buffer.byteLength(text, "utf8") + Buffer.byteLength(tail, "utf8") + 1
