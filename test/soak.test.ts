import { expect, it } from "vitest"
// @ts-expect-error: a plain ESM script without type declarations
import { soak } from "../scripts/soak.mjs"

// The short soak; `npm run soak` runs 200,000 messages each way.
it("soak (short): two processes over TLS both send 1,500 messages at once; exactly once, in order, all receipted", async () => {
  const result = await soak({ count: 1_500, timeoutMs: 60_000 })
  expect(result.errors).toEqual([])
  expect(result.exactlyOnceInOrder).toBe(true)
  expect(result.allReceipted).toBe(true)
  expect(result.exitCodes).toEqual([0, 0])
}, 90_000)
