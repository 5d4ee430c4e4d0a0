import { Schema } from "effect"
import { isJsonPlain, isJsonPlainUtf8 } from "./jsonText.js"
import { type Allocate, type OutputLine, utf8Lines } from "./utf8Lines.js"

/**
 * The chat's events: what `--json` prints one per line, what the terminal view renders, and what library
 * users receive. This is a public contract: add fields and kinds, never change or remove them.
 * Every event carries `at`, an ISO-8601 time stamp of when it happened on this machine.
 */
const at = Schema.String

export const Listening = Schema.TaggedStruct("listening", { at, address: Schema.String, port: Schema.Number })
export const Connecting = Schema.TaggedStruct("connecting", { at, address: Schema.String, port: Schema.Number })
export const Connected = Schema.TaggedStruct("connected", {
  at,
  role: Schema.Literal("connector", "listener"),
  peer: Schema.String
})
/**
 * A connection attempt that came to nothing while we wait on. `role`: our side of it, as in `connected`
 * (listener: a connection we turned away; connector: our own attempt to reach the target failed in a way
 * that waiting alone may not mend, such as a name that does not resolve or a target that does not speak TLS).
 */
export const Rejected = Schema.TaggedStruct("rejected", {
  at,
  peer: Schema.String,
  reason: Schema.String,
  role: Schema.optional(Schema.Literal("connector", "listener"))
})
export const Handshake = Schema.TaggedStruct("handshake", {
  at,
  protocol: Schema.Literal("seed", "v2"),
  localFingerprint: Schema.String,
  peerFingerprint: Schema.String,
  sas: Schema.optional(Schema.String),
  suite: Schema.String
})
export const Sent = Schema.TaggedStruct("sent", { at, id: Schema.String, text: Schema.String })
export const Delivered = Schema.TaggedStruct("delivered", { at, id: Schema.String })
export const Message = Schema.TaggedStruct("message", {
  at,
  id: Schema.String,
  text: Schema.String,
  sentAt: Schema.optional(Schema.String)
})
export const Unsupported = Schema.TaggedStruct("unsupported", { at, kind: Schema.String })
export const PeerLeft = Schema.TaggedStruct("peer-left", { at, reason: Schema.String })
export const Disconnected = Schema.TaggedStruct("disconnected", {
  at,
  reason: Schema.String,
  undelivered: Schema.Array(Schema.String)
})
export const ErrorEvent = Schema.TaggedStruct("error", {
  at,
  code: Schema.String,
  message: Schema.String,
  /** The line of standard input a refusal is about, counted from 1 (pipe mode). */
  line: Schema.optional(Schema.Number)
})

export const ChatEvent = Schema.Union(
  Listening,
  Connecting,
  Connected,
  Rejected,
  Handshake,
  Sent,
  Delivered,
  Message,
  Unsupported,
  PeerLeft,
  Disconnected,
  ErrorEvent
)
export type ChatEvent = typeof ChatEvent.Type

type WithoutAt<E> = E extends unknown ? Omit<E, "at"> : never

/** Builds an event stamped with the current time (or `at`, when a batch of events shares one moment). */
export const event = (e: WithoutAt<ChatEvent>, at: string = new Date().toISOString()): ChatEvent => ({ ...e, at }) as ChatEvent

/** Texts from this length (UTF-16 units) are checked for needing no escapes, rather than escaped. */
const PLAIN_CHECK_FROM = 1024

/** JSON.stringify's line for a text event, cut around the text: the text goes between the two ends as it is. */
const aroundText = (e: ChatEvent & { readonly text: string }): readonly [head: string, tail: string] => {
  const { _tag, ...rest } = e
  // `"text":""` occurs once, as the key: inside any JSON string value every `"` follows a backslash
  const json = JSON.stringify({ event: _tag, ...rest, text: "" })
  const at = json.indexOf('"text":""') + '"text":"'.length
  return [json.slice(0, at), json.slice(at)]
}

const longText = (e: ChatEvent): e is ChatEvent & { readonly text: string } =>
  "text" in e && e.text.length >= PLAIN_CHECK_FROM

const stringified = (e: ChatEvent): string => {
  const { _tag, ...rest } = e
  return JSON.stringify({ event: _tag, ...rest })
}

/** JSON lines use `event` as the discriminator (friendlier to jq than `_tag`). */
export const toJsonLine = (e: ChatEvent): string => {
  if (longText(e) && isJsonPlain(e.text)) {
    const [head, tail] = aroundText(e)
    return head + e.text + tail
  }
  return stringified(e)
}

/**
 * The events' JSON lines, each ended by "\n", as UTF-8: the bytes of `events.map(e => toJsonLine(e) + "\n")
 * .join("")`, with each long text encoded once, into its place (utf8Lines.ts).
 */
export const toJsonLinesBytes = (events: ReadonlyArray<ChatEvent>, allocate?: Allocate): Uint8Array => {
  const lines: Array<OutputLine> = []
  for (const e of events) {
    if (longText(e) && e.text.isWellFormed()) {
      const [head, tail] = aroundText(e)
      lines.push([head, e.text, tail])
    } else lines.push(stringified(e))
  }
  // a text that needs escapes after all: the batch the slow way (texts with quotes, from a piped JSON file)
  return (
    utf8Lines(lines, isJsonPlainUtf8, allocate) ??
    Buffer.from(events.map((e) => stringified(e) + "\n").join(""), "utf8")
  )
}

export const fromJsonLine = (line: string): ChatEvent => {
  const { event: tag, ...rest } = JSON.parse(line)
  return Schema.decodeUnknownSync(ChatEvent)({ _tag: tag, ...rest })
}
