import { Either, Schema } from "effect"
import { asciiText, decodeUtf8, readU32be } from "./bytes.js"
import { padme, zeroFrom } from "./padding.js"

/**
 * What travels inside a v2 message, after decryption: a versioned, typed union. A newer peer may send kinds
 * this version does not know; they are reported and skipped, never fatal (PROTOCOL.md v2 property 10).
 */
export const PAYLOAD_VERSION = 1

/** An id is 1 to 64 characters: the rule for one id (`Id`, with Schema's own messages) and for lists (`Ids`). */
const ID_CHARS = { min: 1, max: 64 } as const
const Id = Schema.String.pipe(Schema.minLength(ID_CHARS.min), Schema.maxLength(ID_CHARS.max))
const isId = (id: unknown): id is string => typeof id === "string" && id.length >= ID_CHARS.min && id.length <= ID_CHARS.max

/**
 * An array checked in one pass over its elements and handed on as parsed. `Schema.Array` decodes element by
 * element into an `[index, value]` pair each, sorted afterwards: 150 bytes allocated per element, and a
 * frame carries up to 256 ids and lengths (texts) or 4096 ids (receipt); the rate run's receiver spent a
 * quarter of its allocations there (measured). A filter per element was four times slower still.
 */
const ArrayOf = <A>(ok: (items: ReadonlyArray<unknown>) => items is ReadonlyArray<A>, message: string) =>
  Schema.declare((u: unknown): u is ReadonlyArray<A> => Array.isArray(u) && ok(u), { message: () => message })

const Ids = (min: number, max: number) =>
  ArrayOf(
    (ids): ids is ReadonlyArray<string> => ids.length >= min && ids.length <= max && ids.every(isId),
    `${min} to ${max} ids of ${ID_CHARS.min} to ${ID_CHARS.max} characters`
  )

/** Milliseconds since the epoch that a Date can hold (±8.64e15): any other number cannot be shown as a time. */
const Millis = Schema.Number.pipe(
  Schema.filter((ms) => Math.abs(ms) <= 8.64e15, { message: () => "a time within 8.64e15 ms of the epoch" })
)

export const Text = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("text"),
  id: Id,
  /** Sender's clock, milliseconds since the epoch: informational only, never trusted for ordering. */
  sentAt: Millis,
  /** Travels as the raw body after the JSON part, not inside it (see encodePayload). */
  body: Schema.String
})
/** Most texts in one `texts` payload. */
export const MAX_BATCH = 256

/**
 * Several texts handed over at the same moment, in one frame: a script that pipes a file line by line sends
 * one sealed frame per loop round instead of one per line (the per-frame crypto dominates small messages).
 * Each text keeps its own id and receipt. They share one message key: forward secrecy is per frame.
 */
export const Texts = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("texts"),
  sentAt: Millis,
  ids: Ids(1, MAX_BATCH),
  /** Travel as one raw body after the JSON part, cut by the `lengths` (UTF-8 bytes) listed in it. */
  bodies: Schema.Array(Schema.String)
})
export const Receipt = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("receipt"),
  ids: Ids(0, 4096)
})
export const Goodbye = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("goodbye"),
  reason: Schema.String.pipe(Schema.maxLength(200))
})
/**
 * A keep-alive. One without `answer` asks for a sign of life, answered at once with one that has it (never
 * answered itself): each side hears from the other within a round trip of its own heartbeats, whatever the
 * other's interval, heartbeats off included. A peer that does not know `answer` ignores it.
 */
export const Heartbeat = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("heartbeat"),
  // a boolean rather than the literal true: `false` (the same as none) must not end a chat as malformed
  answer: Schema.optional(Schema.Boolean)
})

export const Payload = Schema.Union(Text, Texts, Receipt, Goodbye, Heartbeat)
export type Payload = typeof Payload.Type

const TextsMeta = Schema.Struct({
  ...Texts.omit("bodies").fields,
  lengths: ArrayOf(
    (ns): ns is ReadonlyArray<number> =>
      ns.length >= 1 && ns.length <= MAX_BATCH && ns.every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0),
    `1 to ${MAX_BATCH} byte lengths`
  )
})

/** The JSON part on the wire: text bodies are not in it. */
const Meta = Schema.Union(Text.omit("body"), TextsMeta, Receipt, Goodbye, Heartbeat)

/** Just enough to tell an unknown kind (or version) from garbage. */
const Envelope = Schema.Struct({ v: Schema.Number, kind: Schema.String.pipe(Schema.maxLength(64)) })

const decodeMeta = Schema.decodeUnknownEither(Meta)
const decodeEnvelope = Schema.decodeUnknownEither(Envelope)

export type Decoded =
  | { readonly _tag: "Known"; readonly payload: Payload }
  | { readonly _tag: "Unknown"; readonly kind: string }
  | { readonly _tag: "Malformed" }
  | { readonly _tag: "BadPadding" }

const LENGTHS = 8

/**
 * The AEAD plaintext: `u32 M ‖ u32 B ‖ meta (M bytes of UTF-8 JSON) ‖ body (B bytes) ‖ zeros`, padded to a
 * Padmé bucket. A text's body goes raw after the JSON rather than as a JSON string: escaping and parsing
 * 64 KiB of text cost more than encrypting it, and a raw body leaves room for binary kinds later.
 */
export const encodePayload = (
  payload: Payload,
  /** All zeros: used (and a view of it returned) when it has room enough, instead of a new buffer. */
  zeroed?: Buffer
): Uint8Array => {
  let meta: unknown = payload
  let bodies: ReadonlyArray<string> = []
  if (payload.kind === "text") {
    const { body, ...rest } = payload
    meta = rest
    bodies = [body]
  } else if (payload.kind === "texts") {
    const { bodies: texts, ...rest } = payload
    bodies = texts
    // these lengths travel in the JSON part, ahead of the bodies, so they are counted first
    meta = { ...rest, lengths: texts.map((t) => Buffer.byteLength(t, "utf8")) }
  }
  const json = JSON.stringify(meta)
  const metaBytes = Buffer.byteLength(json, "utf8")
  // Room for the worst case, 3 UTF-8 bytes per UTF-16 unit: the bodies' bytes are then known once written,
  // rather than counted first (64 KiB of text: 8 µs to count, 6 to write). Zero-filled: the padding is
  // whatever the writes leave untouched.
  let units = 0
  for (const b of bodies) units += b.length
  const room = padme(LENGTHS + metaBytes + 3 * units)
  const out = zeroed !== undefined && zeroed.length >= room ? zeroed : Buffer.alloc(room)
  let offset = LENGTHS + out.write(json, LENGTHS, "utf8")
  for (const b of bodies) offset += out.write(b, offset, "utf8")
  out.writeUInt32BE(metaBytes, 0)
  out.writeUInt32BE(offset - LENGTHS - metaBytes, 4)
  return out.subarray(0, padme(offset))
}

const KNOWN_KINDS: ReadonlySet<string> = new Set(["text", "texts", "receipt", "goodbye", "heartbeat"])

/** The texts of a `texts` body, cut by their lengths; undefined when they do not add up or are not UTF-8. */
const cutBodies = (body: Uint8Array, lengths: ReadonlyArray<number>): Array<string> | undefined => {
  const out: Array<string> = []
  let offset = 0
  let total = 0
  for (const length of lengths) total += length
  if (total !== body.length) return undefined
  // all ASCII: one decoding, then byte lengths are string lengths (a decoder call per text cost more than
  // the rest of a 256-text frame's decoding)
  const whole = asciiText(body)
  if (whole !== undefined) {
    for (const length of lengths) out.push(whole.slice(offset, (offset += length)))
    return out
  }
  for (const length of lengths) {
    if (length > body.length - offset) return undefined
    const text = decodeUtf8(body.subarray(offset, offset + length))
    if (text === undefined) return undefined
    out.push(text)
    offset += length
  }
  return offset === body.length ? out : undefined
}

export const decodePayloadBytes = (padded: Uint8Array): Decoded => {
  if (padded.length < LENGTHS) return { _tag: "BadPadding" }
  const metaBytes = readU32be(padded, 0)
  const bodyBytes = readU32be(padded, 4)
  // compared by subtraction: a hostile M + B must not overflow into a plausible end
  if (metaBytes > padded.length - LENGTHS || bodyBytes > padded.length - LENGTHS - metaBytes) return { _tag: "BadPadding" }
  const end = LENGTHS + metaBytes + bodyBytes
  if (!zeroFrom(padded, end)) return { _tag: "BadPadding" }
  const text = decodeUtf8(padded.subarray(LENGTHS, LENGTHS + metaBytes))
  if (text === undefined) return { _tag: "Malformed" }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { _tag: "Malformed" }
  }
  const known = decodeMeta(json)
  if (Either.isRight(known)) {
    const meta = known.right
    const body = padded.subarray(LENGTHS + metaBytes, end)
    if (meta.kind === "text") {
      const text = decodeUtf8(body)
      return text === undefined ? { _tag: "Malformed" } : { _tag: "Known", payload: { ...meta, body: text } }
    }
    if (meta.kind === "texts") {
      const { lengths, ...rest } = meta
      const bodies = lengths.length === meta.ids.length ? cutBodies(body, lengths) : undefined
      return bodies === undefined ? { _tag: "Malformed" } : { _tag: "Known", payload: { ...rest, bodies } }
    }
    return bodyBytes === 0 ? { _tag: "Known", payload: meta } : { _tag: "Malformed" }
  }
  const envelope = decodeEnvelope(json)
  if (Either.isLeft(envelope)) return { _tag: "Malformed" }
  const { v, kind } = envelope.right
  // a known kind at our version that fails its schema is garbage; anything newer is reported and skipped
  if (v === PAYLOAD_VERSION && KNOWN_KINDS.has(kind)) return { _tag: "Malformed" }
  return { _tag: "Unknown", kind: v === PAYLOAD_VERSION ? kind : `${kind} (payload version ${v})` }
}
