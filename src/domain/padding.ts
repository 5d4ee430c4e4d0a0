/**
 * Padmé padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", PETS 2019): a length L is rounded up so that only O(log log L) bits of it remain visible, with at
 * most 12% overhead. Below MIN_BUCKET everything looks the same size.
 */
export const MIN_BUCKET = 128

export const padme = (length: number): number => {
  if (length <= MIN_BUCKET) return MIN_BUCKET
  const e = Math.floor(Math.log2(length))
  const s = Math.floor(Math.log2(e)) + 1
  const lastBits = e - s
  const mask = 2 ** lastBits - 1
  return Math.ceil(length / (mask + 1)) * (mask + 1)
}

const ZEROS = new Uint8Array(4096)

/** Whether every byte from `from` on is zero (padding a peer controls: checked, never trusted). */
export const zeroFrom = (bytes: Uint8Array, from: number): boolean => {
  // memcmp against a zero block: a byte loop over a large message's padding costs more than the rest of decoding
  for (let i = from; i < bytes.length; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, bytes.length - i)
    if (Buffer.compare(bytes.subarray(i, i + n), ZEROS.subarray(0, n)) !== 0) return false
  }
  return true
}
