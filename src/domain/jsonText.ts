import { asBuffer, hasControlByte } from "./bytes.js"

/**
 * Whether JSON.stringify would write a text as it is, between quotes: no `"`, no `\`, no control character
 * below U+0020 and no lone surrogate (the only characters it escapes). For long texts only: a 64 KiB text is
 * checked in 20 µs, where JSON.stringify takes 88 to escape it (Node 20). `isJsonPlain` checks a string
 * (toJsonLine); the CLI's JSON view checks the text's UTF-8 where it has just written it (`isJsonPlainUtf8`).
 */

/** Longest text checked (UTF-16 units); a longer one is reported as not plain, and simply escaped. */
const MAX_UNITS = 128 * 1024

let scratch: Buffer | undefined

export const isJsonPlain = (text: string): boolean => {
  if (text.length > MAX_UNITS || !text.isWellFormed()) return false
  scratch ??= Buffer.alloc(MAX_UNITS)
  // One byte per UTF-16 unit: characters up to U+00FF as themselves, later ones cut to their low byte. A
  // character from U+0100 on never needs escaping (lone surrogates were excluded above), so whatever its low
  // byte says can only send a plain text the slow way, never let an escape through.
  const n = scratch.write(text, 0, "latin1")
  const plain = isJsonPlainUtf8(scratch.subarray(0, n))
  // a message's text is not kept here after the check
  scratch.fill(0, 0, n)
  return plain
}

/**
 * Whether the UTF-8 of a well-formed text needs no JSON escape: no byte below 0x20, no `"` and no `\`. Exact
 * for UTF-8, where every byte of a character from U+0080 on is 0x80 or more.
 */
export const isJsonPlainUtf8 = (bytes: Uint8Array): boolean => {
  const buffer = asBuffer(bytes)
  // `"` and `\` by node's indexOf of a byte value (memchr): 1 µs for 64 KiB, where a loop takes 15
  return buffer.indexOf(0x22) === -1 && buffer.indexOf(0x5c) === -1 && !hasControlByte(buffer)
}
