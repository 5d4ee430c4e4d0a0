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

/** body → u32 BE length ‖ body ‖ zeros, total length a Padmé bucket. */
export const pad = (body: Uint8Array): Uint8Array => {
  const out = new Uint8Array(padme(body.length + 4))
  new DataView(out.buffer).setUint32(0, body.length, false)
  out.set(body, 4)
  return out
}

/** The body, or undefined when the length field is impossible or the padding is not all zeros. */
export const unpad = (padded: Uint8Array): Uint8Array | undefined => {
  if (padded.length < 4) return undefined
  const length = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(0, false)
  if (length > padded.length - 4) return undefined
  for (let i = 4 + length; i < padded.length; i++) if (padded[i] !== 0) return undefined
  return padded.subarray(4, 4 + length)
}
