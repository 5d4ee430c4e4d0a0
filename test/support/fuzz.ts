import { Effect, FastCheck as fc } from "effect"
import { SessionError } from "../../src/domain/errors.js"
import { encodeFrames, FrameDecoder } from "../../src/domain/frame.js"
import { decodePayloadBytes, encodePayload } from "../../src/domain/payload.js"
import { parseConnectorHello, parseListenerHello } from "../../src/layers/SeedProtocol.js"
import { checkAnnounce } from "../../src/layers/V2Protocol.js"
import { linkedSeed, linkedV2 } from "./sessions.js"

/**
 * Fuzz targets: every parser that sees bytes from the network. A target "crashes" if it throws; every call is
 * timed, and a call over HANG_MS counts as a hang. Inputs are random bytes and single/multi-byte mutations of
 * valid inputs.
 */
export const HANG_MS = 250

export interface FuzzReport {
  inputs: number
  crashes: Array<string>
  hangs: number
  slowestMs: number
  peakHeapMb: number
}

const mutate = (valid: Uint8Array, edits: ReadonlyArray<[number, number]>, cut: number | undefined) => {
  const out = valid.slice(0, cut === undefined ? valid.length : cut % (valid.length + 1))
  for (const [pos, value] of edits) if (out.length > 0) out[pos % out.length] = value
  return out
}

const inputFrom = (valid: ReadonlyArray<Uint8Array>) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.record({
      which: fc.nat(),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: undefined })
    }).map(({ which, edits, cut }) => mutate(valid[which % valid.length]!, edits, cut))
  )

/** Runs every target on `runs` generated inputs each; never throws, reports instead. */
export const fuzz = async (runs: number, rngSeed?: number): Promise<FuzzReport> => {
  const report: FuzzReport = { inputs: 0, crashes: [], hangs: 0, slowestMs: 0, peakHeapMb: 0 }
  const timed = (name: string, input: Uint8Array, f: () => unknown) => {
    const t0 = performance.now()
    try {
      f()
    } catch (e) {
      report.crashes.push(`${name}: ${(e as Error)?.message ?? e} on ${Buffer.from(input).toString("hex").slice(0, 80)}`)
    }
    const ms = performance.now() - t0
    report.inputs++
    report.slowestMs = Math.max(report.slowestMs, ms)
    if (ms > HANG_MS) report.hangs++
    if (report.inputs % 500 === 0) report.peakHeapMb = Math.max(report.peakHeapMb, process.memoryUsage().heapUsed / 2 ** 20)
  }

  // valid inputs to mutate: real frames of both protocols
  const v2 = await Effect.runPromise(linkedV2())
  const seed = await Effect.runPromise(linkedSeed())
  const v2Frames = [
    v2.connector.send("1", "hello").frames[0]!,
    v2.connector.sendMany([{ id: "2", text: "two" }, { id: "3", text: "thrée" }]).frames[0]!,
    v2.connector.leave("bye").frames.at(-1)!
  ]
  const seedFrame = seed.connector.send("1", "hello").frames[0]!
  const hello = new Uint8Array(Buffer.concat([Buffer.alloc(16, 7), Buffer.from("-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE\n-----END PUBLIC KEY-----\n")]))
  // the plaintexts inside v2 frames, in their wire layout (lengths, JSON part, raw bodies, padding)
  const payloads = [
    encodePayload({ v: 1, kind: "text", id: "1", sentAt: 1, body: "hi" }),
    encodePayload({ v: 1, kind: "texts", sentAt: 1, ids: ["1", "2", "3"], bodies: ["a", "bé", ""] }),
    encodePayload({ v: 1, kind: "receipt", ids: ["1", "2"] }),
    encodePayload({ v: 2, kind: "file", name: "x" } as never)
  ]
  const framesOf = (bodies: ReadonlyArray<Uint8Array>) => encodeFrames(bodies)

  const opts = { numRuns: runs, ...(rngSeed === undefined ? {} : { seed: rngSeed }) }
  fc.assert(
    fc.property(inputFrom([framesOf(v2Frames), framesOf([seedFrame]), new Uint8Array([0, 0, 0, 0])]), fc.array(fc.nat(), { maxLength: 6 }), (input, cuts) => {
      timed("FrameDecoder", input, () => {
        const d = new FrameDecoder(1024)
        let last = 0
        for (const c of [...cuts.map((x) => x % (input.length + 1)).sort((a, b) => a - b), input.length]) {
          d.push(input.subarray(last, Math.max(last, c)))
          last = Math.max(last, c)
          for (let f = d.next(); f instanceof Uint8Array; f = d.next());
        }
        d.finish()
      })
    }),
    opts
  )
  fc.assert(
    fc.property(inputFrom([hello, hello.subarray(16)]), (input) => {
      timed("seed.parseListenerHello", input, () => parseListenerHello(input))
      timed("seed.parseConnectorHello", input, () => parseConnectorHello(input))
      timed("v2.checkAnnounce", input, () => checkAnnounce(input))
    }),
    opts
  )
  fc.assert(
    fc.property(inputFrom(payloads), (input) => {
      timed("v2.decodePayload", input, () => decodePayloadBytes(input))
    }),
    opts
  )
  // session decoders: a mutated frame must be rejected with a SessionError, never accepted, never thrown
  fc.assert(
    fc.property(inputFrom(v2Frames), (input) => {
      timed("v2.receive", input, () => {
        const r = v2.listener.receive(input)
        if (!(r instanceof SessionError) && !v2Frames.some((f) => Buffer.from(f).equals(Buffer.from(input))))
          throw new Error("a mutated frame was accepted")
      })
    }),
    opts
  )
  fc.assert(
    fc.property(inputFrom([seedFrame]), (input) => {
      timed("seed.receive", input, () => {
        if (Buffer.from(input).equals(Buffer.from(seedFrame))) return
        const r = seed.listener.receive(input)
        if (!(r instanceof SessionError)) throw new Error("a mutated frame was accepted")
      })
    }),
    opts
  )
  report.peakHeapMb = Math.max(report.peakHeapMb, process.memoryUsage().heapUsed / 2 ** 20)
  return report
}
