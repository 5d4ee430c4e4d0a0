import { Data } from "effect"
import { isIP } from "node:net"
import { formatEndpoint, formatEndpointVia } from "./address.js"

/**
 * Every failure a user can meet, as tagged data with a closed `reason`.
 * Callers match on `_tag`/`reason`; `describeError` turns any of them into the one sentence the CLI prints.
 */

/** Flags or files that make no sense: exit code 2, nothing touched the network. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly detail: string }> {}

export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  readonly reason: "AddressInUse" | "AddressNotAvailable" | "Permission" | "Other"
  readonly detail: string
}> {}

export class ConnectError extends Data.TaggedError("ConnectError")<{
  readonly host: string
  readonly port: number
  /**
   * Silent: TLS was set up, then nothing came where a p2pchat speaks at once; Closed: it was closed before a word,
   * before TLS (a forwarder whose far end is not listening yet) or after it (auto mode, where the peer also drops
   * a spare connection: said when it lasts). For Timeout, `detail` is the time waited ("5 s").
   */
  readonly reason: "Refused" | "Unreachable" | "NameNotFound" | "Timeout" | "Tls" | "Silent" | "Closed" | "Other"
  readonly detail: string
  /** How long attempts went on before this, the last one ("10 s"), when there were several (client mode). */
  readonly triedFor?: string
  /**
   * The addresses a name in `host` led to, as tried: "localhost" may be 127.0.0.1 on one machine and ::1 on
   * another, and a peer listening on the other one is "nobody there" until a person sees which was tried.
   */
  readonly addresses?: ReadonlyArray<string>
}> {}

/** The byte stream failed or ended under us. `Eof` is an orderly close by the peer's side of TCP. */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "Eof" | "Reset" | "Read" | "Write" | "Timeout"
  readonly detail: string
  /** A handshake that ran out of time: how long it had ("5 s"), which the sentence says with how to give more. */
  readonly handshakeLimit?: string
}> {}

const LISTENER_CLOSED = "the listener is closed"

/** What a listener's `accept` fails with once the listener is closed: the end of its stream of connections. */
export const listenerClosed = (): TransportError => new TransportError({ reason: "Eof", detail: LISTENER_CLOSED })

/**
 * A length prefix's four bytes as text when they are printable ASCII: no frame is that long, and a browser
 * pointed at the port ("GET ") or another protocol's greeting ("SSH-") read as a frame of a billion bytes.
 */
const asciiWord = (size: number): string | undefined => {
  const bytes = [size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff]
  return size <= 0xffffffff && bytes.every((b) => b >= 0x20 && b < 0x7f) ? String.fromCharCode(...bytes).trimEnd() : undefined
}

/** A frame header or body that breaks the framing rules (PROTOCOL.md, Framing). */
export class FrameError extends Data.TaggedError("FrameError")<{
  readonly reason: "TooLarge" | "Truncated"
  readonly size: number
  readonly max: number
}> {}

export class HandshakeError extends Data.TaggedError("HandshakeError")<{
  readonly protocol: "seed" | "v2"
  readonly reason:
    | "Malformed"
    | "WrongProtocol"
    | "Commitment"
    | "Confirmation"
    | "Timeout"
    | "Closed"
  readonly detail: string
}> {}

/** A message frame after the handshake that cannot be accepted. The session ends: its state is no longer trusted. */
export class SessionError extends Data.TaggedError("SessionError")<{
  readonly protocol: "seed" | "v2"
  readonly reason: "Decrypt" | "Malformed" | "Replay" | "Crossing" | "TooManySkipped" | "TooLong"
  readonly detail: string
}> {}

export class CertificateError extends Data.TaggedError("CertificateError")<{
  readonly reason: "Read" | "NotAKey" | "NotACertificate" | "Mismatch" | "Generate"
  readonly path: string
  readonly detail: string
}> {}

/**
 * Standard input could not be read (pipe mode: `p2pchat ... < dir`, an I/O error): the lines read before it
 * were sent, and the run ends as a failure rather than as if the input had simply ended.
 */
export class InputError extends Data.TaggedError("InputError")<{ readonly detail: string }> {}

/**
 * A bug of ours (an exception where none was expected) ended the chat: reported like any failure, with what
 * was not delivered, rather than leaving the chat hanging.
 */
export class InternalError extends Data.TaggedError("InternalError")<{ readonly detail: string }> {}

/** The InternalError for an exception nobody expected: its name and message, never its stack. */
export const internalError = (defect: unknown): InternalError =>
  new InternalError({ detail: defect instanceof Error ? `${defect.name}: ${defect.message}` : String(defect) })

export type ChatError =
  | UsageError
  | ListenError
  | ConnectError
  | TransportError
  | FrameError
  | HandshakeError
  | SessionError
  | CertificateError
  | InputError
  | InternalError

/**
 * A failed connection's sentence. A person who waited for the peer to start learns for how long, and, through
 * `waitSetting`, what sets it: the CLI's flag (describeForCli); a library's caller knows its own `connectFor`.
 */
const describeConnect = (error: ConnectError, waitSetting: string): string => {
  const at = `${formatEndpointVia(error, error.addresses)}${error.triedFor === undefined ? "" : ` in ${error.triedFor} of trying${waitSetting}`}`
  switch (error.reason) {
    case "Refused":
      return `Could not reach ${at}: nobody is listening there (connection refused).`
    case "Unreachable":
      return `Could not reach ${at}: the network or host is unreachable.`
    case "NameNotFound":
      return `Could not reach ${at}: the name does not resolve to an address.`
    case "Timeout":
      return `Could not reach ${at}: no answer within ${error.detail}.`
    case "Tls":
      return `Could not set up TLS with ${at}: ${error.detail}.`
    case "Silent":
    case "Closed":
      return `No p2pchat answered at ${at}: ${error.detail}.`
    default:
      return `Could not reach ${at}: ${error.detail}.`
  }
}

/** A connection gone silent; one that ran out of time for its handshake says how long it had, and `moreTime`. */
const describeTimeout = (error: TransportError, moreTime: string): string =>
  error.handshakeLimit === undefined
    ? `The connection went silent: ${error.detail}.`
    : `The connection went silent: ${error.detail} (${error.handshakeLimit}; over a slow link, ${moreTime}).`

/** The single sentence shown to the user for an error: no stack trace, enough to act on. */
export const describeError = (error: ChatError): string => {
  switch (error._tag) {
    case "UsageError":
      return error.detail
    case "ListenError":
      switch (error.reason) {
        case "AddressInUse":
          return `Cannot listen on ${formatEndpoint(error)}: the port is already in use.`
        case "AddressNotAvailable":
          // a name (-i takes an interface's name too): `-i wlan0` where the card is wlp2s0 was told of an "address"
          return isIP(error.host) === 0
            ? `Cannot listen on ${formatEndpoint(error)}: ${error.host} is neither a network interface of this machine nor a name for one of its addresses.`
            : `Cannot listen on ${formatEndpoint(error)}: that address does not belong to this machine.`
        case "Permission":
          return `Cannot listen on ${formatEndpoint(error)}: permission denied (ports below 1024 need privileges).`
        default:
          return `Cannot listen on ${formatEndpoint(error)}: ${error.detail}.`
      }
    case "ConnectError":
      return describeConnect(error, "")
    case "TransportError":
      switch (error.reason) {
        case "Eof":
          return error.detail === LISTENER_CLOSED
            ? "The listener is closed: it takes no more connections."
            : "The connection was closed by the other side."
        case "Reset":
          return "The connection was reset."
        case "Timeout":
          return describeTimeout(error, "allow the handshake more time")
        default:
          return `The connection failed: ${error.detail}.`
      }
    case "FrameError": {
      if (error.reason === "Truncated") return `The connection ended in the middle of a frame (${error.size} of the expected bytes missing).`
      const text = asciiWord(error.size)
      if (text === undefined) return `The peer sent a frame of ${error.size} bytes, over the ${error.max}-byte limit; the connection was closed.`
      if (/^(GET|POST|HEAD|PUT|PRI|OPTI|DELE|PATC|CONN)/.test(text))
        return `The peer sent an HTTP request ("${text} ..."), not a p2pchat frame (a web browser?); the connection was closed.`
      // a web server answering our first frame (a v2 connector speaks first): `-t` points at an HTTPS port
      if (text === "HTTP") return "The peer answered in HTTP, not with a p2pchat frame: it is a web server; the connection was closed."
      return `The peer sent text ("${text}..."), not a p2pchat frame: it speaks another protocol; the connection was closed.`
    }
    case "HandshakeError":
      return `The ${error.protocol} handshake failed: ${error.detail}.`
    case "SessionError":
      return `The chat was ended because a ${error.protocol} message could not be accepted: ${error.detail}.`
    case "CertificateError":
      return `${error.path}: ${error.detail}.`
    case "InputError":
      return `Could not read standard input (${error.detail}); the lines read before it were sent.`
    case "InternalError":
      return `p2pchat hit an internal error and ended the chat (${error.detail}); please report it.`
  }
}

// Each error's `message` is its sentence, so that a library user who logs an error, or lets `runPromise` reject
// with it, reads what happened (Data.TaggedError's own is "An error has occurred" for every one of them).
for (const ErrorClass of [
  UsageError,
  ListenError,
  ConnectError,
  TransportError,
  FrameError,
  HandshakeError,
  SessionError,
  CertificateError,
  InputError,
  InternalError
])
  Object.defineProperty(ErrorClass.prototype, "message", {
    get(this: ChatError) {
      return describeError(this)
    },
    configurable: true
  })

/** describeError, with what to change on the command line where a flag decides it (the CLI's wording). */
export const describeForCli = (error: ChatError): string => {
  if (error._tag === "ConnectError") return describeConnect(error, " (--wait)")
  if (error._tag === "TransportError" && error.reason === "Timeout") return describeTimeout(error, "allow more with --handshake-timeout")
  const sentence = describeError(error)
  if (error._tag !== "ListenError") return sentence
  const hint = error.reason === "AddressInUse" ? "pick another with -p" : error.reason === "AddressNotAvailable" ? "pick one with -i" : undefined
  return hint === undefined ? sentence : `${sentence.slice(0, -1)}; ${hint}.`
}

/** A stable machine-readable code for the JSON interface: tag and reason. */
export const errorCode = (error: ChatError): string => ("reason" in error ? `${error._tag}.${error.reason}` : error._tag)
