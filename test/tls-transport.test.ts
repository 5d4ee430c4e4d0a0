import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as ForgeCertificate from "../src/layers/ForgeCertificate.js"
import * as NodeTlsTransport from "../src/layers/NodeTlsTransport.js"
import { Transport } from "../src/services/Transport.js"

describe("the node:tls transport", () => {
  it.scopedLive("a write is done only once the socket no longer reads its chunks: reusing them then changes nothing sent", () =>
    Effect.gen(function* () {
      const transport = yield* Transport
      const listener = yield* transport.listen({ host: "127.0.0.1", port: 0 })
      const [server, client] = yield* Effect.all([listener.accept, transport.connect(listener.address, { connectTimeoutMs: 5_000 })], {
        concurrency: 2
      })
      const writes = 400
      const total = writes * 1_000
      const reading = yield* Effect.fork(
        Effect.gen(function* () {
          let zeros = 0
          let got = 0
          for (let i = 0; i < 100_000 && got < total; i++) {
            const chunk = yield* server.read
            got += chunk.length
            for (const b of chunk) if (b === 0) zeros++
          }
          return { got, zeros }
        })
      )
      // small writes in quick succession: while one is in progress Node buffers the next ones, still reading
      // them later; the caller reuses each buffer (here: zeroes it) as soon as its write is done
      for (let i = 0; i < writes; i++) {
        const chunks = [new Uint8Array(400).fill(0xab), new Uint8Array(600).fill(0xcd)]
        yield* client.writev!(chunks)
        for (const c of chunks) c.fill(0)
      }
      const { got, zeros } = yield* Fiber.join(reading).pipe(Effect.timeout("10 seconds"))
      expect(got).toBe(total)
      expect(zeros).toBe(0)
    }).pipe(Effect.provide(NodeTlsTransport.layer), Effect.provide(ForgeCertificate.layerGenerated))
  )
})
