import { Effect } from "effect"
import { expect } from "vitest"
import type { Listener } from "../../src/services/Transport.js"

/** What an accept on a closed listener fails with. */
export const listenerClosedError = { _tag: "TransportError", reason: "Eof", detail: "the listener is closed" }

/**
 * Transport's contract, for any listener: an accept waiting when it closes, and one made after, fail saying the
 * listener is closed; none waits for good.
 */
export const acceptsFailOnceClosed = (listener: Listener) =>
  Effect.gen(function* () {
    const waiting = yield* Effect.fork(Effect.scoped(listener.accept))
    yield* Effect.sleep("20 millis")
    yield* listener.close
    expect(yield* Effect.flip(waiting.await.pipe(Effect.flatten, Effect.timeout("2 seconds")))).toMatchObject(listenerClosedError)
    expect(yield* Effect.flip(Effect.scoped(listener.accept).pipe(Effect.timeout("2 seconds")))).toMatchObject(listenerClosedError)
  })
