import { isAscii } from "node:buffer"
import { asBuffer, hasControlByte } from "./bytes.js"

/**
 * Longest message text, in UTF-8 bytes. Chosen so the worst case still fits one 1 MiB frame in both protocols:
 * seed's JSON escaping can grow text up to six-fold (\uXXXX per byte); v2 pads to at most twice the length.
 */
export const MAX_TEXT_BYTES = 64 * 1024

/** What a message of `bytes` bytes of UTF-8, over the limit, is told. */
export const tooLongRefusal = (bytes: number): string =>
  `That message is ${bytes} bytes; the limit is ${MAX_TEXT_BYTES} bytes of UTF-8. Nothing was sent.`

/** Why `text` cannot be sent, or undefined when it can (no wrapper allocated: this runs once per message). */
export const textRefusal = (text: string): string | undefined => {
  if (text.length === 0) return "An empty message is not sent."
  // UTF-8 takes one to three bytes per UTF-16 unit: only a length in between needs its bytes counted
  if (text.length * 3 <= MAX_TEXT_BYTES) return undefined
  const bytes = Buffer.byteLength(text, "utf8")
  return bytes > MAX_TEXT_BYTES ? tooLongRefusal(bytes) : undefined
}

/**
 * Text from the peer made safe for a terminal: C0/C1 control characters, DEL, and the Unicode bidi controls
 * that can disguise text (marks, embeddings, overrides, isolates: CVE-2021-42574's list) are shown as visible
 * escapes (\x1b, \u202e), so a peer cannot move the cursor, recolour, rewrite earlier lines, set the window
 * title or reorder what a line shows. Tabs are shown as \t too: they can shift columns (in a message's text,
 * messageForTerminal makes them spaces instead).
 */
export const escapeForTerminal = (text: string): string =>
  text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      const code = c.charCodeAt(0)
      if (c === "\n") return "\\n"
      if (c === "\t") return "\\t"
      if (c === "\r") return "\\r"
      return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
    }
  )

/** Columns from one tab stop to the next in a message's text as shown: a terminal's own default. */
const TAB_STOP = 8

/**
 * A message's text for a terminal: as escapeForTerminal, but a tab is spaces to the next tab stop from the
 * text's start, so pasted code keeps its indentation (it showed as \t). A raw tab is never written: it moves
 * the cursor past where the view counts its columns. `width` counts the columns of what is shown: the
 * interactive view gives the terminal's (a wide character takes two); without it a character counts one, as
 * for a file or a pipe, where no terminal decides.
 */
export const messageForTerminal = (text: string, width: (shown: string) => number = characters): string => {
  if (!text.includes("\t")) return escapeForTerminal(text)
  const [first, ...rest] = text.split("\t")
  let shown = escapeForTerminal(first!)
  let column = width(shown)
  for (const piece of rest) {
    const spaces = TAB_STOP - (column % TAB_STOP)
    const escaped = escapeForTerminal(piece)
    shown += " ".repeat(spaces) + escaped
    column += spaces + width(escaped)
  }
  return shown
}

/** Characters (code points) of a text: a surrogate pair is one. */
const characters = (text: string): number => {
  let n = 0
  for (const _ of text) n++
  return n
}

/**
 * Whether escapeForTerminal would leave the text of these UTF-8 bytes as it is: for ASCII, no control
 * character and no DEL. Beyond ASCII it answers no, and the text takes the slow way (the regular expression).
 */
export const isTerminalPlainUtf8 = (bytes: Uint8Array): boolean =>
  isAscii(bytes) && asBuffer(bytes).indexOf(0x7f) === -1 && !hasControlByte(bytes)

/** Longest piece of what the user typed that a sentence quotes back. */
const QUOTED_CHARS = 80

/**
 * What the user typed, shown back in a sentence: cut to a readable length (`max` characters, never half of a
 * surrogate pair), control characters made visible (a 100 KB argument was shown whole, an escape sequence raw).
 */
export const showInput = (text: string, max: number = QUOTED_CHARS): string => {
  const start = Array.from(text.slice(0, 2 * max))
  return escapeForTerminal(start.length > max || text.length > 2 * max ? `${start.slice(0, max).join("")}…` : text)
}

/** A flag's value shown back: as `showInput`, between quotes where it is empty or has a space ("--wait  5" hid one). */
export const showValue = (text: string): string => (text === "" || /\s/.test(text) ? quoteInput(text) : showInput(text))

/** The same, between quotes. */
export const quoteInput = (text: string, max?: number): string => `"${showInput(text, max)}"`

/** A value of any type a caller gave, shown back: a string between quotes (so "8000" is not taken for 8000). */
export const showGiven = (value: unknown): string => (typeof value === "string" ? quoteInput(value) : showInput(String(value)))

/** A time as sentences give it: tenths below ten seconds ("0.3 s", "1.5 s", "5 s"), whole seconds above ("18 s"). */
export const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`
