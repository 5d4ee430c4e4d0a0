import { Effect } from "effect"

/** Waits until `count()` has not moved for a second, or has reached `end` (50 s at most). */
export const untilStill = (count: () => number, end: number) =>
  Effect.gen(function* () {
    let before = -1
    for (let i = 0, still = 0; i < 200 && still < 4 && count() < end; i++) {
      still = count() === before ? still + 1 : 0
      before = count()
      yield* Effect.sleep(250)
    }
  })

/** Waits until `done()`, looking every 10 ms, for `ms` at most: the assertion after it says what did not happen. */
export const until = (done: () => boolean, ms = 2_000) =>
  Effect.gen(function* () {
    for (let i = 0; i < ms / 10 && !done(); i++) yield* Effect.sleep(10)
  })
