import { describe, expect, it } from "vitest"
import { seconds } from "../src/domain/text.js"

describe("times in sentences", () => {
  it("tenths below ten seconds, without a trailing .0; whole seconds from ten on", () => {
    expect([300, 949, 1_000, 1_250, 5_000, 9_940, 9_960, 10_000, 18_400, 86_400_000].map(seconds)).toEqual([
      "0.3 s",
      "0.9 s",
      "1 s",
      "1.3 s",
      "5 s",
      "9.9 s",
      "10 s",
      "10 s",
      "18 s",
      "86400 s"
    ])
  })
})
