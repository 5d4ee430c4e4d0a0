import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import type { ChatEvent } from "../src/domain/events.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import { open } from "../src/Peer.js"
import { Framing } from "../src/services/Framing.js"
import * as L from "./support/layers.js"

const endpointB = { host: "10.0.0.2", port: 7002 }

describe("a whole chat over the in-memory transport", () => {
  it.scopedLive("seed: messages both ways arrive in order and are acknowledged; /quit ends both sides cleanly", () =>
    Effect.gen(function* () {
      const server = yield* Effect.fork(open({ mode: "server", listen: endpointB }))
      yield* Effect.sleep(10)
      const client = yield* open({ mode: "client", target: endpointB, connectFor: "1 second" })
      const srv = yield* server.await.pipe(Effect.flatten)
      expect(client.info.peerFingerprint).toBe(srv.info.localFingerprint)
      expect(srv.info.peerFingerprint).toBe(client.info.localFingerprint)
      const texts = ["hello", "héllo 👋", "third"]
      for (const t of texts) yield* client.send(t)
      const got = yield* Stream.runCollect(Stream.take(srv.messages, 3))
      expect(Chunk.toArray(got).map((m) => m.text)).toEqual(texts)
      yield* srv.send("back")
      const back = yield* Stream.runHead(client.messages)
      expect(back._tag === "Some" && back.value.text).toBe("back")
      yield* client.leave({ drainMs: 1000 })
      const [co, so] = yield* Effect.all([client.outcome, srv.outcome])
      expect(co).toEqual({ _tag: "Left", undelivered: [] })
      expect(so._tag).toBe("PeerLeft")
      const clientEvents = yield* Stream.runCollect(client.events)
      const delivered = Chunk.toArray(clientEvents).filter((e): e is Extract<ChatEvent, { _tag: "delivered" }> => e._tag === "delivered")
      expect(delivered.map((d) => d.id)).toEqual(["1", "2", "3"])
    }).pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, Framing.layer(), L.seed)))
  )
})
