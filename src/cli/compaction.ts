import { Effect, type Scope } from "effect"
import * as vm from "node:vm"

/**
 * Gives memory back once a burst is over. A CLI that has just moved a script's 100,000 lines sat at 130-140
 * MB for as long as the chat stayed quiet (74 MB before the burst): what a burst leaves behind is freed by a
 * full collection, V8 starts one when something allocates, and a quiet chat allocates almost nothing. So
 * after a quiet spell that follows activity, if the process has grown by `minGrowthBytes` since the last
 * time, we ask for collections (`giveMemoryBack`). Measured: 77-90 MB again 35 s after such a burst.
 */
export interface QuietCompaction {
  /** Something happened (an event reached the view): the quiet spell starts again. */
  readonly touch: () => void
}

export interface QuietCompactionOptions {
  /** How long the chat must be quiet: between one and two of these after the last activity. */
  readonly quietMs: number
  /** Growth of the resident memory since the last compaction (or the start) below which nothing is done. */
  readonly minGrowthBytes: number
  readonly residentBytes: () => number
  readonly compact: Effect.Effect<void>
}

export const QUIET_MS = 5_000
export const MIN_GROWTH_BYTES = 24 * 1024 * 1024

/**
 * A full collection through a documented API: `vm.measureMemory` with eager execution "starts the GC right
 * away" (Node 20 has no other way short of `--expose-gc`). Its result, a size estimate, is not needed.
 */
export const collectGarbage: Effect.Effect<void> = Effect.promise(() =>
  vm.measureMemory({ mode: "summary", execution: "eager" }).then(
    () => undefined,
    () => undefined
  )
)

/**
 * One collection frees the old generation, but the young one keeps the size a burst grew it to (32 MB): V8
 * shrinks it after a collection only if less than 1 KB/ms, and not nothing, was allocated over the last 5 s
 * of its samples, and the first collection's samples still hold the burst. A second one later sees only the
 * quiet (measured: with 2 s between them, 3 of 6 CLIs kept their young generation; with 6 s, none of 6).
 */
const SECOND_COLLECTION_AFTER_MS = 6_000

/** `collect` now and again SECOND_COLLECTION_AFTER_MS later (`giveMemoryBack`, with a collection of its own to count in tests). */
export const collectTwice = (collect: Effect.Effect<void>): Effect.Effect<void> =>
  Effect.zipRight(collect, Effect.zipRight(Effect.sleep(SECOND_COLLECTION_AFTER_MS), collect))

export const giveMemoryBack: Effect.Effect<void> = collectTwice(collectGarbage)

/**
 * Node says once, on stderr, that `vm.measureMemory` is experimental: in the middle of a chat, about a call our
 * user did not make. This hides that notice; every other warning is shown as Node shows it.
 */
export const hideMeasureMemoryNotice = (emitter: NodeJS.EventEmitter = process): void => {
  const shown = emitter.listeners("warning") as Array<(warning: Error) => void>
  emitter.removeAllListeners("warning")
  emitter.on("warning", (warning: Error) => {
    if (warning.name === "ExperimentalWarning" && warning.message.startsWith("vm.measureMemory")) return
    for (const listener of shown) listener(warning)
  })
}

/** Checks once per `quietMs`, for as long as the scope lasts. */
export const compactWhenQuiet = (options: QuietCompactionOptions): Effect.Effect<QuietCompaction, never, Scope.Scope> =>
  Effect.gen(function* () {
    // activity in the current period; activity since the last compaction (or check that found no growth)
    let recent = false
    let sinceCheck = false
    let baseline = options.residentBytes()
    const check = Effect.suspend(() => {
      if (recent) {
        recent = false
        sinceCheck = true
        return Effect.void
      }
      if (!sinceCheck) return Effect.void
      sinceCheck = false
      if (options.residentBytes() - baseline < options.minGrowthBytes) return Effect.void
      return Effect.zipRight(
        options.compact,
        Effect.sync(() => {
          baseline = options.residentBytes()
        })
      )
    })
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(options.quietMs), check)))
    return {
      touch: () => {
        recent = true
      }
    }
  })
