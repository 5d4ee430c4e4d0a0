import { Effect } from "effect"
import * as crypto from "node:crypto"
import { frame } from "../../src/layers/LengthPrefixFraming.js"
import * as MemoryTransport from "../../src/layers/MemoryTransport.js"
import type { Primitives } from "../../src/layers/Primitives.js"
import * as V2Protocol from "../../src/layers/V2Protocol.js"
import type { Conn } from "../../src/services/Transport.js"
import { node } from "./sessions.js"

const ep = (host: string) => ({ host, port: 1 })

/**
 * Connector ↔ relay ↔ listener: the two ends (`[connector, listener]`) of two in-memory pairs with a relay
 * between them that sees each frame and may change it (`tamper`) or hold it back (`keep` false); `shared` keeps
 * one TLS session.
 */
export const relayedConns = (options: {
  shared: boolean
  tamper?: (index: number, frame: Uint8Array) => Uint8Array
  keep?: (frame: Uint8Array) => boolean
}) =>
  Effect.gen(function* () {
    const secret = crypto.randomBytes(32)
    const [c, r1] = yield* MemoryTransport.makePair(ep("c"), ep("r1"), secret)
    const [r2, l] = yield* MemoryTransport.makePair(ep("r2"), ep("l"), options.shared ? secret : crypto.randomBytes(32))
    let index = 0
    const pump = (from: Conn, to: Conn) => {
      const src = frame(from)
      const dst = frame(to)
      return Effect.forever(
        Effect.flatMap(src.readFrame, (f) =>
          options.keep?.(f) === false ? Effect.void : dst.writeFrames([options.tamper ? options.tamper(index++, f) : f])
        )
      ).pipe(Effect.ensuring(to.close), Effect.ignore)
    }
    yield* Effect.forkScoped(pump(r1, r2))
    yield* Effect.forkScoped(pump(r2, r1))
    return [c, l] as const
  })

/** A v2 handshake through `relayedConns`; `p` gives both sides their primitives. */
export const relayedHandshake = (options: {
  shared: boolean
  tamper?: (index: number, frame: Uint8Array) => Uint8Array
  p?: Primitives
}) =>
  Effect.gen(function* () {
    const [c, l] = yield* relayedConns(options)
    // a side that fails closes its connection, as the connection scope does in the product
    const side = (conn: Conn, role: "connector" | "listener") =>
      Effect.either(V2Protocol.handshake(options.p ?? node, frame(conn), role).pipe(Effect.tapError(() => conn.close)))
    return yield* Effect.all([side(c, "connector"), side(l, "listener")], { concurrency: 2 })
  })
