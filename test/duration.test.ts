import { describe, expect, it } from "vitest"
import { decimalNumber, durationProblem } from "../src/domain/duration.js"

describe("a duration option as a library caller gives it", () => {
  const anyLength = { zero: true, infinite: true }
  it.each([10, 0, "10 seconds", "0 millis", Infinity, 5n])("%s is a duration", (input) => {
    expect(durationProblem("connectFor", input, anyLength)).toBeUndefined()
  })

  it("NaN, a number parsed from nothing, is no duration (Effect reads it as no time at all)", () => {
    expect(durationProblem("connectFor", NaN, anyLength)).toBe(
      'connectFor NaN is not a duration: give 0 or more, such as "10 seconds" or 10000 (ms)'
    )
  })

  it.each([-1, -5n, "-1 seconds"])("%s, negative, is out of range (Effect reads it as no time at all)", (input) => {
    expect(durationProblem("connectFor", input, anyLength)).toMatch(/^connectFor .* is out of range: give 0 or more, such as/)
  })

  it("zero and Infinity are refused where the rules say so, and the sentence says what is wanted", () => {
    const rules = { zero: false, infinite: false }
    expect(durationProblem("handshakeTimeout", 0, rules)).toBe(
      'handshakeTimeout 0 is out of range: give more than 0 (not Infinity), such as "10 seconds" or 10000 (ms)'
    )
    expect(durationProblem("handshakeTimeout", Infinity, rules)).toMatch(/^handshakeTimeout Infinity is out of range/)
    expect(durationProblem("handshakeTimeout", "soon", rules)).toMatch(/^handshakeTimeout "soon" is not a duration/)
  })
})

describe("seconds as people write them", () => {
  it.each([
    ["10", 10],
    ["0.5", 0.5],
    [".5", 0.5],
    ["5.", 5],
    ["1e-3", 0.001],
    ["2E2", 200],
    ["-1", -1]
  ])("%j is %d", (text, value) => {
    expect(decimalNumber(text)).toBe(value)
  })

  it.each(["", " 5", "5 ", "0x10", "0o20", "0b1", "1e", "e3", "--1", "1_000", "Infinity", "5s"])("%j is not a number of seconds", (text) => {
    expect(decimalNumber(text)).toBeUndefined()
  })
})
