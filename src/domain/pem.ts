/** P-384 public keys as PEM SubjectPublicKeyInfo, byte-identical with what Python's `cryptography` writes. */

// DER SPKI header for an uncompressed P-384 point: SEQUENCE { SEQUENCE { id-ecPublicKey, secp384r1 }, BIT STRING }
const SPKI_PREFIX = Uint8Array.from(Buffer.from("3076301006072a8648ce3d020106052b81040022036200", "hex"))
const POINT_BYTES = 97
const HEADER = "-----BEGIN PUBLIC KEY-----\n"
const FOOTER = "-----END PUBLIC KEY-----\n"

export const spkiFromPoint = (point: Uint8Array): Uint8Array => {
  const out = new Uint8Array(SPKI_PREFIX.length + point.length)
  out.set(SPKI_PREFIX, 0)
  out.set(point, SPKI_PREFIX.length)
  return out
}

/** PEM text of a 97-byte uncompressed point: 64-character base64 lines, trailing newline (always 215 bytes). */
export const pemFromPoint = (point: Uint8Array): string => {
  const b64 = Buffer.from(spkiFromPoint(point)).toString("base64")
  const lines: Array<string> = []
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64))
  return HEADER + lines.join("\n") + "\n" + FOOTER
}

/**
 * The point inside a peer's PEM, or undefined. Strict: one P-384 SPKI, uncompressed point, nothing else.
 * (Whether the point lies on the curve is checked by ECDH itself.) Line endings may be \n or \r\n, and the
 * base64 may be cut into lines of any length (none empty), but it must be the DER's own base64: node's decoder skips
 * characters that are not base64 and stops at the first "=", so "AB!C", or a body with lines after its "=", decodes
 * to the same key as the clean text (a check of each line's characters let the second through).
 */
export const pointFromPem = (pem: string): Uint8Array | undefined => {
  if (pem.length > 1024) return undefined
  const lines = pem.replace(/\r\n/g, "\n").split("\n")
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
  if (lines.length < 3) return undefined
  if (lines[0] !== HEADER.trimEnd() || lines[lines.length - 1] !== FOOTER.trimEnd()) return undefined
  const body = lines.slice(1, -1)
  if (body.includes("")) return undefined
  const base64 = body.join("")
  const der = Buffer.from(base64, "base64")
  if (der.length !== SPKI_PREFIX.length + POINT_BYTES || der.toString("base64") !== base64) return undefined
  for (let i = 0; i < SPKI_PREFIX.length; i++) if (der[i] !== SPKI_PREFIX[i]) return undefined
  if (der[SPKI_PREFIX.length] !== 0x04) return undefined
  return new Uint8Array(der.subarray(SPKI_PREFIX.length))
}
