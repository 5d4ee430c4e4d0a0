import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { MIN_BUCKET, padme, zeroFrom } from "../src/domain/padding.js"

describe("Padmé padding", () => {
  it.each([
    [0, 128],
    [1, 128],
    [128, 128],
    // E = 7, S = 3: the last 4 bits are rounded away
    [129, 144],
    [1000, 1024],
    // E = 10, S = 4: 6 bits
    [1100, 1152],
    [1025, 1088],
    // E = 16, S = 5: 11 bits
    [65_537, 67_584],
    [1_048_576, 1_048_576]
  ])("pads %i bytes to %i", (length, padded) => {
    expect(padme(length)).toBe(padded)
  })

  it("never shortens, costs at most 12 % past the smallest bucket, and leaves only floor(log2 E) + 1 bits of the length to see", () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_BUCKET + 1, max: 2 ** 30 }), (length) => {
        const padded = padme(length)
        expect(padded).toBeGreaterThanOrEqual(length)
        expect(padded).toBeLessThanOrEqual(length * 1.12)
        // what remains visible: the exponent E and the S bits after the leading one
        const e = Math.floor(Math.log2(length))
        const s = Math.floor(Math.log2(e)) + 1
        expect(padded % 2 ** (e - s)).toBe(0)
      }),
      { numRuns: 2_000 }
    )
  })
})

describe("padding that a peer controls", () => {
  it("is all zeros or refused, wherever a non-zero byte is: before, in and after each 4 KiB block", () => {
    for (const size of [1, 4095, 4096, 4097, 10_000]) {
      const bytes = new Uint8Array(size + 3)
      expect(zeroFrom(bytes, 3)).toBe(true)
      for (const at of [3, size + 2, Math.min(size + 2, 3 + 4095), Math.min(size + 2, 3 + 4096)]) {
        bytes[at] = 1
        expect(zeroFrom(bytes, 3)).toBe(false)
        bytes[at] = 0
      }
      // a byte before `from` is not padding
      bytes[2] = 1
      expect(zeroFrom(bytes, 3)).toBe(true)
    }
  })
})
