import { it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { execFileSync } from "node:child_process"
import { EventEmitter } from "node:events"
import { describe, expect } from "vitest"
import { collectGarbage, collectTwice, compactWhenQuiet, hideMeasureMemoryNotice } from "../src/cli/compaction.js"

const MB = 1024 * 1024

/** A process whose resident size the test sets, and which counts the compactions asked of it. */
const fakeProcess = (startMb: number, afterCompactionMb: number) => {
  const state = { rss: startMb * MB, compactions: 0 }
  return {
    state,
    options: {
      quietMs: 5_000,
      minGrowthBytes: 24 * MB,
      residentBytes: () => state.rss,
      compact: Effect.sync(() => {
        state.compactions++
        state.rss = afterCompactionMb * MB
      })
    }
  }
}

const wait = (ms: number) => TestClock.adjust(Duration.millis(ms))

describe("giving memory back once a burst is over", () => {
  it.scoped("compacts once after a quiet spell that follows growth, not during the activity, not again while quiet", () =>
    Effect.gen(function* () {
      const { state, options } = fakeProcess(70, 80)
      const quiet = yield* compactWhenQuiet(options)
      // a burst: events every 2 s for 30 s while the process grows
      for (let t = 0; t < 30_000; t += 2_000) {
        quiet.touch()
        state.rss += 5 * MB
        yield* wait(2_000)
      }
      expect(state.compactions).toBe(0)
      yield* wait(10_000)
      expect(state.compactions).toBe(1)
      yield* wait(60_000)
      expect(state.compactions).toBe(1)
    })
  )

  it.scoped("does nothing after activity that did not grow the process", () =>
    Effect.gen(function* () {
      const { state, options } = fakeProcess(70, 70)
      const quiet = yield* compactWhenQuiet(options)
      quiet.touch()
      state.rss += 20 * MB
      yield* wait(30_000)
      expect(state.compactions).toBe(0)
    })
  )

  it.scoped("measures growth from the size the last compaction left, so a second burst compacts again", () =>
    Effect.gen(function* () {
      const { state, options } = fakeProcess(70, 90)
      const quiet = yield* compactWhenQuiet(options)
      quiet.touch()
      state.rss = 150 * MB
      yield* wait(10_000)
      expect(state.compactions).toBe(1)
      // 90 MB now: 20 MB more is not enough, 30 is
      quiet.touch()
      state.rss = 110 * MB
      yield* wait(10_000)
      expect(state.compactions).toBe(1)
      quiet.touch()
      state.rss = 120 * MB
      yield* wait(10_000)
      expect(state.compactions).toBe(2)
    })
  )

  it.scoped("growth with nothing happening is not a burst's: nothing is done, after a check or before any activity", () =>
    Effect.gen(function* () {
      const { state, options } = fakeProcess(70, 70)
      yield* compactWhenQuiet(options)
      state.rss += 50 * MB
      yield* wait(60_000)
      expect(state.compactions).toBe(0)
      // a burst that left nothing behind, checked once quiet; then growth with no event
      const second = fakeProcess(70, 70)
      const quiet = yield* compactWhenQuiet(second.options)
      quiet.touch()
      yield* wait(15_000)
      second.state.rss += 50 * MB
      yield* wait(60_000)
      expect(second.state.compactions).toBe(0)
    })
  )

  it.scoped("growth of exactly the least that counts (24 MB) compacts", () =>
    Effect.gen(function* () {
      const { state, options } = fakeProcess(70, 70)
      const quiet = yield* compactWhenQuiet(options)
      quiet.touch()
      state.rss += 24 * MB
      yield* wait(10_000)
      expect(state.compactions).toBe(1)
    })
  )

  it.effect("memory is given back by two collections 6 s apart: the second is what lets V8 shrink its young generation", () =>
    Effect.gen(function* () {
      let collections = 0
      const done = yield* Effect.fork(collectTwice(Effect.sync(() => void collections++)))
      yield* Effect.yieldNow()
      expect(collections).toBe(1)
      yield* wait(5_900)
      expect(collections).toBe(1)
      yield* wait(100)
      yield* Fiber.join(done)
      expect(collections).toBe(2)
    })
  )

  it.scoped("waits for a whole quiet period: activity just before a check postpones it", () =>
    Effect.gen(function* () {
      const { state, options } = fakeProcess(70, 80)
      const quiet = yield* compactWhenQuiet(options)
      state.rss = 150 * MB
      yield* wait(4_900)
      quiet.touch()
      yield* wait(200)
      expect(state.compactions).toBe(0)
      yield* wait(4_800)
      quiet.touch()
      yield* wait(200)
      expect(state.compactions).toBe(0)
      yield* wait(10_000)
      expect(state.compactions).toBe(1)
    })
  )

  it.effect("collectGarbage runs a full collection: objects kept through young collections and then dropped are gone", () =>
    Effect.gen(function* () {
      // this test process too is spared Node's notice about the call
      hideMeasureMemoryNotice()
      let kept: Array<Array<{ readonly n: number; readonly s: string }>> = []
      // about 40 MB, held long enough to reach the old generation
      for (let i = 0; i < 40; i++) kept.push(Array.from({ length: 10_000 }, (_, n) => ({ n, s: `item ${i}:${n}` })))
      const before = process.memoryUsage().heapUsed
      kept = []
      yield* collectGarbage
      const after = process.memoryUsage().heapUsed
      expect(kept.length).toBe(0)
      expect(before - after).toBeGreaterThan(20 * MB)
    })
  )
})

describe("Node's notice about vm.measureMemory", () => {
  // the notice as this Node really words it, from a process of its own (Node gives it once per process)
  const realNotice = JSON.parse(
    execFileSync(
      process.execPath,
      [
        "-e",
        `process.on("warning", (w) => process.stdout.write(JSON.stringify({ name: w.name, message: w.message })));
         require("node:vm").measureMemory({ execution: "eager" })`
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }
    )
  ) as { name: string; message: string }

  const warning = (name: string, message: string) => Object.assign(new Error(message), { name })

  it("is hidden; every other warning still reaches the listeners that were there", () => {
    expect(realNotice.name).toBe("ExperimentalWarning")
    const emitter = new EventEmitter()
    const shown: Array<string> = []
    emitter.on("warning", (w: Error) => shown.push(`${w.name}: ${w.message}`))
    hideMeasureMemoryNotice(emitter)
    emitter.emit("warning", warning(realNotice.name, realNotice.message))
    emitter.emit("warning", warning("ExperimentalWarning", "The Fetch API is an experimental feature"))
    emitter.emit("warning", warning("MaxListenersExceededWarning", "Possible EventEmitter memory leak detected"))
    expect(shown).toEqual([
      "ExperimentalWarning: The Fetch API is an experimental feature",
      "MaxListenersExceededWarning: Possible EventEmitter memory leak detected"
    ])
  })
})
