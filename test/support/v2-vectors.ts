import { Effect } from "effect"
import { fromHex, toHex } from "../../src/domain/bytes.js"
import * as MemoryTransport from "../../src/layers/MemoryTransport.js"
import type { Primitives } from "../../src/layers/Primitives.js"
import * as V2Protocol from "../../src/layers/V2Protocol.js"
import { frame } from "../../src/layers/LengthPrefixFraming.js"
import type { FramedConn } from "../../src/services/Framing.js"
import { scripted } from "./vectors.js"

/** Fixed inputs of the v2 known-answer vectors (docs/vectors/v2.json). Scalars are valid P-384 private keys. */
export const V2_INPUTS = {
  channelSecretHex: "00".repeat(31) + "01",
  connector: {
    handshakeScalarHex: "11".repeat(48),
    nonceHex: "a1".repeat(32),
    ratchetScalarHex: "12".repeat(48),
    /** the connector's next DH ratchet key pair, made when it answers the listener (connectorBatch) */
    nextRatchetScalarHex: "13".repeat(48)
  },
  listener: {
    handshakeScalarHex: "21".repeat(48),
    nonceHex: "b2".repeat(32),
    ratchetScalarHex: "22".repeat(48)
  },
  connectorMessage: { v: 1, kind: "text", id: "1", sentAt: 1764000000000, body: "hello, v2" },
  listenerMessage: { v: 1, kind: "text", id: "1", sentAt: 1764000000001, body: "héllo 👋" },
  /** the connector's answer: two texts in one frame, after its DH ratchet step (every turn ratchets here) */
  connectorBatch: { v: 1, kind: "texts", sentAt: 1764000000002, ids: ["2", "3"], bodies: ["two", "three ✓"] }
} as const

const recording = (inner: FramedConn, log: Array<string>): FramedConn => ({
  ...inner,
  writeFrames: (bodies) => {
    for (const b of bodies) log.push(toHex(b))
    return inner.writeFrames(bodies)
  }
})

/** Runs the v2 handshake and two messages with the fixed inputs; returns every byte that went on the wire. */
export const computeV2Vectors = (base: Omit<Primitives, "random">) =>
  Effect.gen(function* () {
    const i = V2_INPUTS
    const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 }, fromHex(i.channelSecretHex))
    const connectorWrites: Array<string> = []
    const listenerWrites: Array<string> = []
    const pc = scripted(base, [i.connector.nonceHex], [
      i.connector.handshakeScalarHex,
      i.connector.ratchetScalarHex,
      i.connector.nextRatchetScalarHex
    ])
    const pl = scripted(base, [i.listener.nonceHex], [i.listener.handshakeScalarHex, i.listener.ratchetScalarHex])
    const [connector, listener] = yield* Effect.all(
      [
        // no least interval between DH steps: the vectors must not depend on how fast they are computed
        V2Protocol.handshake(pc, recording(frame(c), connectorWrites), "connector", { minRotationMs: 0 }),
        V2Protocol.handshake(pl, recording(frame(l), listenerWrites), "listener", { minRotationMs: 0 })
      ],
      { concurrency: 2 }
    )
    const m1 = connector.seal(i.connectorMessage)
    const opened1 = listener.receive(m1)
    // the listener answers: its first reply after the connector's message triggers its DH ratchet step
    const m2 = listener.seal(i.listenerMessage)
    const opened2 = connector.receive(m2)
    const m3 = connector.seal({ ...i.connectorBatch, ids: [...i.connectorBatch.ids], bodies: [...i.connectorBatch.bodies] })
    const opened3 = listener.receive(m3)
    return {
      exporterHex: toHex(c.exportKeyingMaterial(V2Protocol.EXPORTER_BYTES, V2Protocol.EXPORTER_LABEL)),
      frames: {
        announce: listenerWrites[0],
        commit: connectorWrites[0],
        helloListener: listenerWrites[1],
        helloConnector: connectorWrites[1],
        confirmConnector: connectorWrites[2],
        confirmListener: listenerWrites[2]
      },
      sas: connector.info.sas,
      connectorFingerprint: connector.info.localFingerprint,
      listenerFingerprint: listener.info.localFingerprint,
      connectorMessageFrame: toHex(m1),
      listenerMessageFrame: toHex(m2),
      connectorBatchFrame: toHex(m3),
      receivedByListener: opened1,
      receivedByConnector: opened2,
      receivedBatchByListener: opened3
    }
  })
