import { Context, type Effect } from "effect"
import type { FrameError, HandshakeError, TransportError } from "../domain/errors.js"
import type { ProtocolName, Role, Session } from "../domain/session.js"
import type { FramedConn } from "./Framing.js"

/**
 * Runs a protocol's handshake over a framed connection and yields the established session.
 * One layer per protocol (`seed`, `v2`).
 */
export class Handshake extends Context.Tag("p2pchat/Handshake")<
  Handshake,
  {
    readonly protocol: ProtocolName
    readonly run: (
      conn: FramedConn,
      role: Role
    ) => Effect.Effect<Session, HandshakeError | FrameError | TransportError>
  }
>() {}
