import { vi } from "@effect/vitest"
import { Effect } from "effect"

/** The wall clock (`Date.now`) set back by `ms` until the scope ends, as NTP, a person or a restored VM may set it. */
export const wallClockSetBack = (ms: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const wallClock = Date.now
      return vi.spyOn(Date, "now").mockImplementation(() => wallClock.call(Date) - ms)
    }),
    (setBack) => Effect.sync(() => setBack.mockRestore())
  )
