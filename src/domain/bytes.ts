/** Small byte helpers shared by every layer; pure, no I/O. */
import { isAscii } from "node:buffer"

export const concatBytes = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** The same memory seen as a Buffer (no copy), for node's byte methods. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export const toHex = (bytes: Uint8Array): string => asBuffer(bytes).toString("hex")

export const fromHex = (hex: string): Uint8Array => {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error("invalid hex")
  return new Uint8Array(Buffer.from(hex, "hex"))
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** The text of bytes that are all ASCII (then UTF-8 and Latin-1 agree), otherwise undefined. */
export const asciiText = (bytes: Uint8Array): string | undefined =>
  isAscii(bytes) ? asBuffer(bytes).toString("latin1") : undefined

// ignoreBOM: a leading U+FEFF is part of the text, not a marker to strip
const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
/** Strict UTF-8 decoding: undefined for malformed input, which a peer controls. */
export const decodeUtf8 = (bytes: Uint8Array): string | undefined => {
  // large ASCII texts (a piped file) decode a third faster this way: 64 KiB, 9 against 14 µs
  const ascii = bytes.length >= 1024 ? asciiText(bytes) : undefined
  if (ascii !== undefined) return ascii
  try {
    return fatalDecoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** Overwrites secret material that is no longer needed (best effort in a garbage-collected runtime). */
export const wipe = (...arrays: ReadonlyArray<Uint8Array | undefined>): void => {
  for (const a of arrays) a?.fill(0)
}

export const u32be = (n: number): Uint8Array => {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n >>> 0, false)
  return out
}

export const writeU32be = (out: Uint8Array, offset: number, n: number): void => {
  out[offset] = n >>> 24
  out[offset + 1] = n >>> 16
  out[offset + 2] = n >>> 8
  out[offset + 3] = n
}

export const readU32be = (bytes: Uint8Array, offset: number): number =>
  ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0

/** Whether some byte is below 0x20 (a control character, in ASCII and in UTF-8). */
export const hasControlByte = (bytes: Uint8Array): boolean => {
  let i = 0
  // byte by byte up to the first 4-byte boundary of the memory, which the 32-bit view needs
  for (; i < bytes.length && ((bytes.byteOffset + i) & 3) !== 0; i++) if (bytes[i]! < 0x20) return true
  if (i === bytes.length) return false
  // Four bytes at a time, two words a step: `(w - 0x20202020) & ~w` has a byte's top bit set when some byte
  // of w is below 0x20 (exact for "any byte").
  const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, (bytes.length - i) >>> 2)
  let found = 0
  let k = 0
  for (; k + 1 < words.length; k += 2) {
    const w = words[k]!
    const x = words[k + 1]!
    found |= ((w - 0x20202020) & ~w) | ((x - 0x20202020) & ~x)
  }
  if (k < words.length) found |= (words[k]! - 0x20202020) & ~words[k]!
  if ((found & 0x80808080) !== 0) return true
  for (i += words.length * 4; i < bytes.length; i++) if (bytes[i]! < 0x20) return true
  return false
}
