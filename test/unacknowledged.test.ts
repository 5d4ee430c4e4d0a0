import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Unacknowledged } from "../src/layers/Unacknowledged.js"

describe("the ids waiting for a receipt", () => {
  it("behave as a set of our ids under any order of receipts, duplicates and foreign ids", () => {
    fc.assert(
      fc.property(
        // ids added in order with gaps, receipts for any of them (or never-added ids) in any order and repeated
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3000 }),
        fc.array(fc.oneof(fc.nat({ max: 3 }).map((k) => ({ k })), fc.constantFrom("0", "01", "-1", "1.0", "x", "", "9".repeat(16))), { maxLength: 6000 }),
        (gaps, receipts) => {
          const window = new Unacknowledged()
          const model = new Set<string>()
          let next = 0
          let r = 0
          for (const gap of gaps) {
            next += gap
            window.add(String(next))
            model.add(String(next))
            // acknowledge a few receipts between adds, as the chat loop does
            for (const stop = r + 2; r < stop && r < receipts.length; r++) {
              const x = receipts[r]!
              const id = typeof x === "string" ? x : String(Math.max(1, next - x.k * 7))
              expect(window.acknowledge(id)).toBe(model.delete(id))
            }
            expect(window.size).toBe(model.size)
            // the window runs from the oldest id waiting (the model's first: ids are added in order) to the newest
            const oldest = model.values().next().value
            expect(window.span).toBe(oldest === undefined ? 0 : next + 1 - Number(oldest))
          }
          expect(window.ids()).toEqual([...model])
        }
      ),
      { numRuns: 200 }
    )
  })

  it("hold one byte per id between the oldest waiting and the newest: a withheld receipt keeps the window open", () => {
    const window = new Unacknowledged()
    for (let i = 1; i <= 5000; i++) window.add(String(i))
    for (let i = 2; i <= 5000; i++) window.acknowledge(String(i))
    expect(window.size).toBe(1)
    expect(window.span).toBe(5000)
    expect(window.acknowledge("1")).toBe(true)
    expect(window.span).toBe(0)
    expect(window.ids()).toEqual([])
    window.add("7000")
    expect(window.span).toBe(1)
    expect(() => window.add("6999")).toThrow(RangeError)
  })

  it("a receipt names an id exactly: not one that shares a slot of the ring, and not one written with a leading zero", () => {
    const window = new Unacknowledged()
    for (let i = 1; i <= 10; i++) window.add(String(i))
    // 1025 and 1 share a slot of the 1024-id ring: a receipt from beyond the newest id must not clear id 1
    expect(window.acknowledge("1025")).toBe(false)
    expect(window.acknowledge("01")).toBe(false)
    expect(window.ids()).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
    for (let i = 1; i <= 10; i++) window.acknowledge(String(i))
    for (let i = 1000; i <= 1030; i++) window.add(String(i))
    // and one from before the oldest: 6 shares the slot of 1030
    expect(window.acknowledge("6")).toBe(false)
    expect(window.size).toBe(31)
    expect(window.ids().at(-1)).toBe("1030")
  })

  it("with the ring full, a receipt for the next id (not added yet) clears nothing: it shares the oldest's slot", () => {
    const window = new Unacknowledged()
    for (let i = 1; i <= 1024; i++) window.add(String(i))
    expect(window.acknowledge("1025")).toBe(false)
    expect(window.size).toBe(1024)
    expect(window.ids()[0]).toBe("1")
  })

  it("an id added far beyond the oldest waiting one grows the ring as often as it takes", () => {
    const window = new Unacknowledged()
    window.add("1")
    // 5,000 ids from the oldest: it takes three doublings of the 1,024-id ring (5000 shares 904's slot in rings of 2,048 and 4,096)
    window.add("5000")
    expect(window.ids()).toEqual(["1", "5000"])
    expect(window.acknowledge("904")).toBe(false)
    expect(window.acknowledge("5000")).toBe(true)
    expect(window.ids()).toEqual(["1"])
  })

  it("a receipt's id is decimal digits only: ':' (the code after '9') names no id", () => {
    const window = new Unacknowledged()
    for (let i = 1; i <= 20; i++) window.add(String(i))
    // read as digits 1 and 10, "1:" was 20
    for (const foreign of ["1:", ":", "/", "1/"]) expect(window.acknowledge(foreign)).toBe(false)
    expect(window.size).toBe(20)
  })

  it("the ring grows before an id would take the slot of the oldest waiting one", () => {
    const window = new Unacknowledged()
    // 1,025 ids waiting: the first ring (1,024 slots) cannot hold them, and 1,025 shares 1's slot in it
    for (let i = 1; i <= 1025; i++) window.add(String(i))
    expect(window.acknowledge("1")).toBe(true)
    expect(window.acknowledge("1025")).toBe(true)
    expect(window.size).toBe(1023)
    expect(window.ids()[0]).toBe("2")
    expect(window.ids().at(-1)).toBe("1024")
  })

  it("ids are added in order, each once, and only ours (whole numbers)", () => {
    const window = new Unacknowledged()
    window.add("5")
    for (const bad of ["5", "4", "x", "", "6.5", "1e400"]) expect(() => window.add(bad), bad).toThrow(RangeError)
    expect(window.ids()).toEqual(["5"])
    expect(window.size).toBe(1)
  })
})

