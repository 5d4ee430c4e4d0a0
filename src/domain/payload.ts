import { Either, Schema } from "effect"
import { decodeUtf8, readU32be } from "./bytes.js"
import { padme, zeroFrom } from "./padding.js"

/**
 * What travels inside a v2 message, after decryption: a versioned, typed union. A newer peer may send kinds
 * this version does not know; they are reported and skipped, never fatal (PROTOCOL.md v2 property 10).
 */
export const PAYLOAD_VERSION = 1

const Id = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))

export const Text = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("text"),
  id: Id,
  /** Sender's clock, milliseconds since the epoch: informational only, never trusted for ordering. */
  sentAt: Schema.Number,
  /** Travels as the raw body after the JSON part, not inside it (see encodePayload). */
  body: Schema.String
})
export const Receipt = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("receipt"),
  ids: Schema.Array(Id).pipe(Schema.maxItems(4096))
})
export const Goodbye = Schema.Struct({
  v: Schema.Literal(PAYLOAD_VERSION),
  kind: Schema.Literal("goodbye"),
  reason: Schema.String.pipe(Schema.maxLength(200))
})
export const Heartbeat = Schema.Struct({ v: Schema.Literal(PAYLOAD_VERSION), kind: Schema.Literal("heartbeat") })

export const Payload = Schema.Union(Text, Receipt, Goodbye, Heartbeat)
export type Payload = typeof Payload.Type

/** The JSON part on the wire: a text's body is not in it. */
const Meta = Schema.Union(Text.omit("body"), Receipt, Goodbye, Heartbeat)

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
export const encodePayload = (payload: Payload): Uint8Array => {
  const body = "body" in payload && typeof payload.body === "string" ? payload.body : undefined
  let meta: unknown = payload
  if (body !== undefined) {
    const { body: _, ...rest } = payload as { body: string }
    meta = rest
  }
  const json = JSON.stringify(meta)
  const metaBytes = Buffer.byteLength(json, "utf8")
  const bodyBytes = body === undefined ? 0 : Buffer.byteLength(body, "utf8")
  // zero-filled: the padding is whatever the two writes below leave untouched
  const out = Buffer.alloc(padme(LENGTHS + metaBytes + bodyBytes))
  out.writeUInt32BE(metaBytes, 0)
  out.writeUInt32BE(bodyBytes, 4)
  out.write(json, LENGTHS, "utf8")
  if (body !== undefined) out.write(body, LENGTHS + metaBytes, "utf8")
  return out
}

const KNOWN_KINDS: ReadonlySet<string> = new Set(["text", "receipt", "goodbye", "heartbeat"])

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
    if (meta.kind !== "text") return bodyBytes === 0 ? { _tag: "Known", payload: meta } : { _tag: "Malformed" }
    const body = decodeUtf8(padded.subarray(LENGTHS + metaBytes, end))
    return body === undefined ? { _tag: "Malformed" } : { _tag: "Known", payload: { ...meta, body } }
  }
  const envelope = decodeEnvelope(json)
  if (Either.isLeft(envelope)) return { _tag: "Malformed" }
  const { v, kind } = envelope.right
  // a known kind at our version that fails its schema is garbage; anything newer is reported and skipped
  if (v === PAYLOAD_VERSION && KNOWN_KINDS.has(kind)) return { _tag: "Malformed" }
  return { _tag: "Unknown", kind: v === PAYLOAD_VERSION ? kind : `${kind} (payload version ${v})` }
}
