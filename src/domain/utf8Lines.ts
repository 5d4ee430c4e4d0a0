/**
 * Output lines written straight to UTF-8. A line that carries a long text is given in three pieces, and the
 * text is encoded once, into its place, then checked there; joining it into a line and the lines into one
 * string before encoding that read or copied a 64 KiB text five times (120 against 35 µs a line; it was a
 * quarter of the CPU of a CLI piping a file, measured).
 */

/** A line as it is, or the two ends of a line and a text that goes between them if `plain` finds it so. */
export type OutputLine = string | readonly [head: string, text: string, tail: string]

/** Gives a buffer of exactly `bytes` bytes, whose contents will all be written over. */
export type Allocate = (bytes: number) => Buffer

/**
 * The lines, each followed by "\n", as UTF-8, in a buffer from `allocate`; undefined when some line's text is not
 * `plain` (then the caller renders the lines its own, slower way).
 */
export const utf8Lines = (
  lines: ReadonlyArray<OutputLine>,
  plain: (text: Buffer) => boolean,
  allocate: Allocate = Buffer.allocUnsafe
): Buffer | undefined => {
  // whole lines in a row are joined first: one string to measure and encode, not one per line (short lines,
  // hundreds a batch)
  const pieces: Array<string> = []
  const texts: Array<number> = []
  let run: Array<string> = []
  for (const line of lines) {
    if (typeof line === "string") run.push(line)
    else {
      pieces.push(run.length > 0 ? run.join("\n") + "\n" + line[0] : line[0])
      texts.push(pieces.length)
      pieces.push(line[1], line[2] + "\n")
      run = []
    }
  }
  if (run.length > 0) pieces.push(run.join("\n") + "\n")
  let bytes = 0
  for (const piece of pieces) bytes += Buffer.byteLength(piece, "utf8")
  // every byte is written below: no need to zero it first
  const out = allocate(bytes)
  let offset = 0
  let next = 0
  for (let i = 0; i < pieces.length; i++) {
    const end = offset + out.write(pieces[i]!, offset, "utf8")
    if (i === texts[next] && (next++, !plain(out.subarray(offset, end)))) return undefined
    offset = end
  }
  return out
}
