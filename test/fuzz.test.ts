import { expect, it } from "vitest"
import { fuzz } from "./support/fuzz.js"

// `npm run fuzz` runs the same targets longer (FUZZ_RUNS) and prints the report.
const runs = Number(process.env.FUZZ_RUNS ?? 300)

it(`fuzz: frame reader, handshake parsers of both protocols, payload and session decoders (${runs} inputs per target)`, async () => {
  const report = await fuzz(runs)
  if (process.env.FUZZ_RUNS) console.log(JSON.stringify({ fuzzReport: report }))
  expect(report.crashes).toEqual([])
  expect(report.hangs).toBe(0)
  expect(report.peakHeapMb).toBeLessThan(512)
  expect(report.inputs).toBeGreaterThanOrEqual(runs * 5)
}, 600_000)
