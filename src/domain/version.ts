/**
 * The first bytes of every v2 handshake frame. A peer that sees them knows the protocol and version before it
 * parses anything else (PROTOCOL.md, v2 property 9). Eight ASCII bytes, so a seed peer that prints or logs
 * them shows something recognisable.
 */
export const V2_MAGIC = new Uint8Array([0x50, 0x32, 0x50, 0x43, 0x48, 0x41, 0x54, 0x02]) // "P2PCHAT" 0x02

export const startsWithMagic = (frame: Uint8Array): boolean => {
  if (frame.length < V2_MAGIC.length) return false
  for (let i = 0; i < V2_MAGIC.length; i++) if (frame[i] !== V2_MAGIC[i]) return false
  return true
}

/** "P2PCHAT" followed by a version byte other than ours: a newer (or older) p2pchat. */
export const otherP2pchatVersion = (frame: Uint8Array): number | undefined => {
  if (frame.length < V2_MAGIC.length) return undefined
  for (let i = 0; i < V2_MAGIC.length - 1; i++) if (frame[i] !== V2_MAGIC[i]) return undefined
  return frame[V2_MAGIC.length - 1] === V2_MAGIC[V2_MAGIC.length - 1] ? undefined : frame[V2_MAGIC.length - 1]
}

const PEM_HEAD = "-----BEGIN PUBLIC KEY-----"
/** A seed listener's first frame: 16-byte salt then a PEM public key. */
export const looksLikeSeedListenerHello = (frame: Uint8Array): boolean =>
  frame.length > 16 + PEM_HEAD.length && Buffer.from(frame.subarray(16, 16 + PEM_HEAD.length)).toString("latin1") === PEM_HEAD
/** A seed connector's reply: a PEM public key. */
export const looksLikeSeedConnectorHello = (frame: Uint8Array): boolean =>
  frame.length >= PEM_HEAD.length && Buffer.from(frame.subarray(0, PEM_HEAD.length)).toString("latin1") === PEM_HEAD
