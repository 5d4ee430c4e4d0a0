/**
 * p2pchat as a library: open an end-to-end encrypted chat with one peer from any Effect program.
 *
 * The common case needs one call and one layer:
 *
 *     const session = yield* P2pchat.open({ mode: "client", target: { host: "127.0.0.1", port: 8000 } })
 *     // ... provided with P2pchat.layer()
 *
 * Everything the CLI uses is here: the services and their layers (TLS and in-memory transports, both
 * protocols, both crypto back ends), the tagged errors and the domain schemas.
 */
import { Layer } from "effect"
import type { CertificateError } from "./domain/errors.js"
import { DEFAULT_MAX_FRAME } from "./domain/frame.js"
import type { ProtocolName } from "./domain/session.js"
import * as ForgeCertificate from "./layers/ForgeCertificate.js"
import * as NobleCipher from "./layers/NobleCipher.js"
import * as NobleKeyAgreement from "./layers/NobleKeyAgreement.js"
import * as NobleKeySchedule from "./layers/NobleKeySchedule.js"
import * as NodeCryptoCipher from "./layers/NodeCryptoCipher.js"
import * as NodeCryptoKeyAgreement from "./layers/NodeCryptoKeyAgreement.js"
import * as NodeCryptoKeySchedule from "./layers/NodeCryptoKeySchedule.js"
import * as NodeTlsTransport from "./layers/NodeTlsTransport.js"
import * as SeedProtocol from "./layers/SeedProtocol.js"
import * as V2Protocol from "./layers/V2Protocol.js"
import * as LengthPrefixFraming from "./layers/LengthPrefixFraming.js"
import type { Framing } from "./services/Framing.js"
import type { Handshake } from "./services/Handshake.js"
import type { Transport } from "./services/Transport.js"

export { open, type OpenError, type PeerOptions, type PeerSession } from "./Peer.js"
export { VERSION } from "./version.js"

// domain: schemas, types, errors
export { type Endpoint, formatEndpoint, parseTarget, Port } from "./domain/address.js"
export {
  CertificateError,
  type ChatError,
  ConnectError,
  describeError,
  errorCode,
  FrameError,
  HandshakeError,
  InputError,
  InternalError,
  ListenError,
  listenerClosed,
  SessionError,
  TransportError,
  UsageError
} from "./domain/errors.js"
export { ChatEvent, fromJsonLine, toJsonLine } from "./domain/events.js"
export { Payload } from "./domain/payload.js"
export type { HandshakeInfo, ProtocolName, Role } from "./domain/session.js"
export { escapeForTerminal, MAX_TEXT_BYTES, messageForTerminal } from "./domain/text.js"

// services
export { Certificate, type TlsIdentity } from "./services/Certificate.js"
export type { ChatHandle, ChatOutcome, SendRefused } from "./services/Chat.js"
export { Cipher } from "./services/Cipher.js"
export { establish, type Mode } from "./services/Connection.js"
export { Framing, type FramedConn } from "./services/Framing.js"
export { Handshake } from "./services/Handshake.js"
export { KeyAgreement } from "./services/KeyAgreement.js"
export { KeySchedule } from "./services/KeySchedule.js"
export { type Conn, type Listener, Transport, type TurnedAway } from "./services/Transport.js"

// layers
export * as ForgeCertificate from "./layers/ForgeCertificate.js"
export * as LengthPrefixFraming from "./layers/LengthPrefixFraming.js"
export * as MemoryTransport from "./layers/MemoryTransport.js"
export * as NobleCipher from "./layers/NobleCipher.js"
export * as NobleKeyAgreement from "./layers/NobleKeyAgreement.js"
export * as NobleKeySchedule from "./layers/NobleKeySchedule.js"
export * as NodeCryptoCipher from "./layers/NodeCryptoCipher.js"
export * as NodeCryptoKeyAgreement from "./layers/NodeCryptoKeyAgreement.js"
export * as NodeCryptoKeySchedule from "./layers/NodeCryptoKeySchedule.js"
export * as NodeTlsTransport from "./layers/NodeTlsTransport.js"
export * as SeedProtocol from "./layers/SeedProtocol.js"
export * as V2Protocol from "./layers/V2Protocol.js"

export interface ProtocolOptions {
  /** "v2" (default) or "seed" (the original chat.py's protocol). */
  readonly protocol?: ProtocolName
  /** "node" (node:crypto, default: faster) or "noble" (pure JS). */
  readonly crypto?: "node" | "noble"
  /** Largest frame accepted, in bytes. Default 1 MiB. */
  readonly maxFrame?: number
}

/** Crypto primitives from node:crypto or @noble. */
export const cryptoLayer = (which: "node" | "noble" = "node") =>
  which === "node"
    ? Layer.mergeAll(NodeCryptoCipher.layer, NodeCryptoKeySchedule.layer, NodeCryptoKeyAgreement.layer)
    : Layer.mergeAll(NobleCipher.layer, NobleKeySchedule.layer, NobleKeyAgreement.layer)

/** Framing and the chosen protocol: add a Transport (TLS, in-memory, your own) to get a complete stack. */
export const protocolLayer = (options: ProtocolOptions = {}): Layer.Layer<Framing | Handshake> =>
  Layer.merge(
    LengthPrefixFraming.layer(options.maxFrame ?? DEFAULT_MAX_FRAME),
    (options.protocol === "seed" ? SeedProtocol.layer : V2Protocol.layer).pipe(Layer.provide(cryptoLayer(options.crypto)))
  )

/**
 * Everything `open` needs over real TLS: a generated certificate (or `tls` PEM files), Framing, the
 * protocol. Fails with a CertificateError only when the given files are unusable.
 */
export const layer = (
  options: ProtocolOptions & { readonly tls?: { readonly keyFile: string; readonly certFile: string } } = {}
): Layer.Layer<Transport | Framing | Handshake, CertificateError> =>
  Layer.merge(
    NodeTlsTransport.layer.pipe(
      Layer.provide(
        options.tls ? ForgeCertificate.layerFiles(options.tls.keyFile, options.tls.certFile) : ForgeCertificate.layerGenerated
      )
    ),
    protocolLayer(options)
  )
