import { it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { expect } from "vitest"
// @ts-expect-error: a plain ESM script without type declarations
import { comparePaired, signTest, stats } from "../scripts/peers.mjs"

// scripts/ab.mjs judges a change by how many paired runs it won: the count must go the figure's way.
type Compared = { ratio: number; bBetter: number; aBetter: number; pairs: number; a: { median: number }; b: { median: number } }
const compare = comparePaired as (a: Array<number>, b: Array<number>, higherIsBetter: boolean) => Compared

it("a paired comparison counts B's wins the figure's way, ties for neither", () => {
  const a = [200, 210, 190, 205]
  const b = [220, 210, 180, 230]
  const faster = compare(a, b, true)
  expect([faster.bBetter, faster.aBetter, faster.pairs]).toEqual([2, 1, 4])
  // the same numbers as times or memory: lower is better
  const smaller = compare(a, b, false)
  expect([smaller.bBetter, smaller.aBetter]).toEqual([1, 2])
  expect(faster.ratio).toBeCloseTo(stats(b).median / stats(a).median, 12)
})

it.prop(
  "swapping the builds, or the figure's direction, swaps the counts; no pair is counted twice",
  {
    pairs: fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 30 }),
    higherIsBetter: fc.boolean()
  },
  ({ pairs, higherIsBetter }) => {
    const a = pairs.map(([x]) => x)
    const b = pairs.map(([, y]) => y)
    const ab = compare(a, b, higherIsBetter)
    const ba = compare(b, a, higherIsBetter)
    const flipped = compare(a, b, !higherIsBetter)
    const ties = pairs.filter(([x, y]) => x === y).length
    expect(ab.bBetter + ab.aBetter + ties).toBe(pairs.length)
    expect([ba.bBetter, ba.aBetter]).toEqual([ab.aBetter, ab.bBetter])
    expect([flipped.bBetter, flipped.aBetter]).toEqual([ab.aBetter, ab.bBetter])
  }
)

it.prop(
  "the sign test's p is the share of all equally likely outcomes at least as uneven",
  { wins: fc.integer({ min: 0, max: 12 }), losses: fc.integer({ min: 0, max: 12 }) },
  ({ wins, losses }) => {
    const n = wins + losses
    const uneven = Math.abs(wins - losses)
    // every sequence of n coin tosses, counted
    let asUneven = 0
    for (let outcome = 0; outcome < 2 ** n; outcome++) {
      let heads = 0
      for (let bit = 0; bit < n; bit++) heads += (outcome >> bit) & 1
      if (Math.abs(2 * heads - n) >= uneven) asUneven++
    }
    expect((signTest as (w: number, l: number) => number)(wins, losses)).toBeCloseTo(asUneven / 2 ** n, 12)
  }
)

it("runs that are not paired are refused", () => {
  expect(() => compare([1, 2], [1], true)).toThrow(RangeError)
  expect(() => compare([], [], true)).toThrow(RangeError)
})

it("stats: median, range and p99 of unsorted runs", () => {
  const s = stats([5, 1, 4, 2, 3]) as { median: number; min: number; max: number; p99: number }
  expect([s.median, s.min, s.max, s.p99]).toEqual([3, 1, 5, 5])
})
