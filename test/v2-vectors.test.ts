import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { backends } from "./support/vectors.js"
import { computeV2Vectors, V2_INPUTS } from "./support/v2-vectors.js"

const file = path.resolve(import.meta.dirname, "../docs/vectors/v2.json")

describe.each(backends)("v2 known-answer vectors in docs/vectors/v2.json ($name)", ({ p }) => {
  it.effect("the handshake frames, safety code, fingerprints and first messages are byte-identical", () =>
    Effect.gen(function* () {
      const got = yield* computeV2Vectors(p)
      const { receivedByListener, receivedByConnector, receivedBatchByListener, ...wire } = got
      if (process.env.WRITE_V2_VECTORS === "1") {
        fs.writeFileSync(
          file,
          JSON.stringify(
            {
              title: "p2pchat protocol v2 known-answer vectors (see docs/PROTOCOL.md)",
              generator: "this implementation (node:crypto); both crypto back ends are checked against it",
              inputs: V2_INPUTS,
              outputs: wire
            },
            null,
            1
          ) + "\n"
        )
      }
      const expected = JSON.parse(fs.readFileSync(file, "utf8"))
      expect(expected.inputs).toEqual(JSON.parse(JSON.stringify(V2_INPUTS)))
      expect(wire).toEqual(expected.outputs)
      expect(receivedByListener).toMatchObject({ events: [{ _tag: "Message", text: V2_INPUTS.connectorMessage.body }] })
      expect(receivedByConnector).toMatchObject({ events: [{ _tag: "Message", text: V2_INPUTS.listenerMessage.body }] })
      expect(receivedBatchByListener).toMatchObject({
        events: V2_INPUTS.connectorBatch.bodies.map((text, k) => ({ _tag: "Message", id: V2_INPUTS.connectorBatch.ids[k], text }))
      })
      // the batch came on a new DH ratchet key: the header's key differs from the first message's
      expect(wire.connectorBatchFrame.slice(2, 2 + 194)).not.toBe(wire.connectorMessageFrame.slice(2, 2 + 194))
    })
  )
})
