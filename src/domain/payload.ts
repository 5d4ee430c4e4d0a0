import { Either, Schema } from "effect"

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

/** Just enough to tell an unknown kind (or version) from garbage. */
const Envelope = Schema.Struct({ v: Schema.Number, kind: Schema.String.pipe(Schema.maxLength(64)) })

const decodePayload = Schema.decodeUnknownEither(Payload)
const decodeEnvelope = Schema.decodeUnknownEither(Envelope)

export type Decoded =
  | { readonly _tag: "Known"; readonly payload: Payload }
  | { readonly _tag: "Unknown"; readonly kind: string }
  | { readonly _tag: "Malformed" }

export const encodePayload = (p: Payload): Uint8Array => Buffer.from(JSON.stringify(p), "utf8")

export const decodePayloadBytes = (bytes: Uint8Array): Decoded => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    return { _tag: "Malformed" }
  }
  const known = decodePayload(json)
  if (Either.isRight(known)) return { _tag: "Known", payload: known.right }
  const envelope = decodeEnvelope(json)
  if (Either.isLeft(envelope)) return { _tag: "Malformed" }
  const { v, kind } = envelope.right
  const isKnownKind = kind === "text" || kind === "receipt" || kind === "goodbye" || kind === "heartbeat"
  // a known kind at our version that fails its schema is garbage; anything newer is reported and skipped
  if (v === PAYLOAD_VERSION && isKnownKind) return { _tag: "Malformed" }
  return { _tag: "Unknown", kind: v === PAYLOAD_VERSION ? kind : `${kind} (payload version ${v})` }
}
