/**
 * A hand-built v2 plaintext: u32 M ‖ u32 B ‖ meta ‖ body ‖ padding (zeros), the lengths given or counted. For
 * plaintexts no payload encoder would make.
 */
export const rawPlaintext = (meta: string, body: Uint8Array = new Uint8Array(0), padding = 0, lengths?: [number, number]) => {
  const m = Buffer.from(meta)
  const out = Buffer.alloc(8 + m.length + body.length + padding)
  out.writeUInt32BE(lengths?.[0] ?? m.length, 0)
  out.writeUInt32BE(lengths?.[1] ?? body.length, 4)
  m.copy(out, 8)
  out.set(body, 8 + m.length)
  return out
}
