import { Effect } from "effect"
import { concatBytes } from "../../src/domain/bytes.js"
import type { Session } from "../../src/domain/session.js"
import * as MemoryTransport from "../../src/layers/MemoryTransport.js"
import type { Primitives } from "../../src/layers/Primitives.js"
import { csprng } from "../../src/layers/Primitives.js"
import * as SeedProtocol from "../../src/layers/SeedProtocol.js"
import * as V2Protocol from "../../src/layers/V2Protocol.js"
import { frame } from "../../src/layers/LengthPrefixFraming.js"
import type { FramedConn } from "../../src/services/Framing.js"
import type { Conn } from "../../src/services/Transport.js"
import { backends } from "./vectors.js"

export const node: Primitives = { ...backends[0]!.p, random: csprng }
export const noble: Primitives = { ...backends[1]!.p, random: csprng }

type Run = (p: Primitives, conn: FramedConn, role: "connector" | "listener") => Effect.Effect<Session, unknown>

/** Runs both sides of a handshake over an in-memory pair and returns the two sessions. */
export const linked = <S extends Session>(
  run: Run,
  p: Primitives = node,
  wire?: (c: Conn, l: Conn) => Effect.Effect<readonly [Conn, Conn]>
) =>
  Effect.gen(function* () {
    const [c0, l0] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
    const [c, l] = wire ? yield* wire(c0, l0) : [c0, l0]
    const [connector, listener] = yield* Effect.all([run(p, frame(c), "connector"), run(p, frame(l), "listener")], {
      concurrency: 2
    })
    return { connector: connector as S, listener: listener as S }
  })

export const linkedV2 = (p: Primitives = node, options?: V2Protocol.V2Options) =>
  linked<V2Protocol.V2Session>((p, conn, role) => V2Protocol.handshake(p, conn, role, options), p)
export const linkedSeed = (p: Primitives = node) => linked<SeedProtocol.SeedSession>(SeedProtocol.handshake, p)

/** A seed session's current key and, while a reply is pending, the key its message went out under. */
export const keysOf = (s: SeedProtocol.SeedSession) => {
  const inside = s as unknown as { key: Uint8Array; pending?: { previousKey: Uint8Array } }
  return { key: inside.key, previous: inside.pending?.previousKey }
}

/** A frame as a seed peer seals one: nonce ‖ ChaCha20-Poly1305(type ‖ content). */
export const sealedAs = (key: Uint8Array, type: number, content: Uint8Array) => {
  const nonce = node.random(12)
  return concatBytes(nonce, node.aead.seal(key, nonce, concatBytes(Uint8Array.of(type), content)))
}
