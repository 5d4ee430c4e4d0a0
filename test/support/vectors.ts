import * as fs from "node:fs"
import * as path from "node:path"
import { fromHex } from "../../src/domain/bytes.js"
import type { Primitives } from "../../src/layers/Primitives.js"
import * as NobleCipher from "../../src/layers/NobleCipher.js"
import * as NobleKeyAgreement from "../../src/layers/NobleKeyAgreement.js"
import * as NobleKeySchedule from "../../src/layers/NobleKeySchedule.js"
import * as NodeCryptoCipher from "../../src/layers/NodeCryptoCipher.js"
import * as NodeCryptoKeyAgreement from "../../src/layers/NodeCryptoKeyAgreement.js"
import * as NodeCryptoKeySchedule from "../../src/layers/NodeCryptoKeySchedule.js"

/** The independent known-answer vectors shipped beside the project (../shared/vectors). */
export const sharedVectorsDir = path.resolve(import.meta.dirname, "../../../shared/vectors")
export const loadSharedVectors = (name: string): any => JSON.parse(fs.readFileSync(path.join(sharedVectorsDir, name), "utf8"))

export const backends: ReadonlyArray<{ name: string; p: Omit<Primitives, "random"> }> = [
  { name: "node:crypto", p: { aead: NodeCryptoCipher.aead, kdf: NodeCryptoKeySchedule.kdf, ecdh: NodeCryptoKeyAgreement.ecdh } },
  { name: "noble", p: { aead: NobleCipher.aead, kdf: NobleKeySchedule.kdf, ecdh: NobleKeyAgreement.ecdh } }
]

const replayKey = (base: Omit<Primitives, "random">, scalars: Array<string>) => {
  const next = scalars.shift()
  if (next === undefined) throw new Error("no recorded key pair left")
  return base.ecdh.fromPrivate(fromHex(next))
}

/**
 * Primitives that replay recorded randomness: `random(n)` and `ecdh.generate()` (or `generateAhead()`) take the
 * next recorded value, and fail the test if the code asks for something else than the recording holds.
 */
export const scripted = (
  base: Omit<Primitives, "random">,
  randoms: Array<string>,
  scalars: Array<string>
): Primitives => ({
  ...base,
  ecdh: {
    ...base.ecdh,
    generate: () => replayKey(base, scalars),
    generateAhead: () => replayKey(base, scalars)
  },
  random: (n) => {
    const next = randoms.shift()
    if (next === undefined) throw new Error(`no recorded random bytes left (asked for ${n})`)
    const bytes = fromHex(next)
    if (bytes.length !== n) throw new Error(`recorded ${bytes.length} random bytes, asked for ${n}`)
    return bytes
  }
})
