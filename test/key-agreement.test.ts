import { describe, expect, it } from "@effect/vitest"
import { createHook } from "node:async_hooks"
import { spawnSync } from "node:child_process"
import { createRequire, syncBuiltinESMExports } from "node:module"
import * as path from "node:path"
import { toHex } from "../src/domain/bytes.js"
import * as NobleKeyAgreement from "../src/layers/NobleKeyAgreement.js"
import * as NodeCryptoKeyAgreement from "../src/layers/NodeCryptoKeyAgreement.js"
import { PUBLIC_KEY_BYTES } from "../src/services/KeyAgreement.js"

const node = NodeCryptoKeyAgreement.ecdh
const noble = NobleKeyAgreement.ecdh

/** The point in compressed form (02/03 ‖ X), which OpenSSL's ECDH also takes. */
const compressed = (point: Uint8Array) => {
  const out = new Uint8Array(49)
  out[0] = 2 + (point[96]! & 1)
  out.set(point.subarray(1, 49), 1)
  return out
}

describe("P-384 ECDH from node:crypto", () => {
  // generated pairs are OpenSSL key objects whose bytes are read back out of DER: each step checked against
  // the other implementation and against the path that rebuilds a key from its scalar
  it("a generated pair's bytes are its own (the scalar gives the point), and every way to a shared secret agrees", () => {
    for (let i = 0; i < 24; i++) {
      const a = node.generate()
      const b = node.generate()
      expect(a.privateKey.length).toBe(48)
      expect(toHex(node.fromPrivate(a.privateKey).publicKey)).toBe(toHex(a.publicKey))
      expect(toHex(noble.fromPrivate(a.privateKey).publicKey)).toBe(toHex(a.publicKey))
      const ab = node.sharedSecret(a.privateKey, b.publicKey)!
      expect(ab.length).toBe(48)
      expect(toHex(node.sharedSecret(b.privateKey, a.publicKey)!)).toBe(toHex(ab))
      expect(toHex(noble.sharedSecret(a.privateKey, b.publicKey)!)).toBe(toHex(ab))
      // a copy of the scalar is not the generated key object: the other path, same secret
      expect(toHex(node.sharedSecret(new Uint8Array(a.privateKey), b.publicKey)!)).toBe(toHex(ab))
      expect(toHex(node.sharedSecret(a.privateKey, compressed(b.publicKey))!)).toBe(toHex(ab))
    }
  })

  it("refuses a peer point that is not on the curve, malformed, in the hybrid form, or the point at infinity, whichever key it meets, as noble does", () => {
    const own = node.generate()
    const peer = node.generate().publicKey
    const offCurve = new Uint8Array(peer)
    offCurve[96]! ^= 1
    const wrongPrefix = new Uint8Array(peer)
    wrongPrefix[0] = 5
    // the hybrid form (06/07 ‖ X ‖ Y), with the parity bit right: OpenSSL reads it, noble and Python's
    // `cryptography` do not, and the two back ends must agree
    const hybrid = new Uint8Array(peer)
    hybrid[0] = 6 + (peer[96]! & 1)
    const bad = [offCurve, wrongPrefix, hybrid, peer.subarray(0, 96), new Uint8Array(97), Uint8Array.of(0), new Uint8Array(0)]
    for (const privateKey of [own.privateKey, new Uint8Array(own.privateKey)])
      for (const point of bad) {
        expect(node.sharedSecret(privateKey, point)).toBeUndefined()
        expect(noble.sharedSecret(privateKey, point)).toBeUndefined()
      }
  })

  // a peer's point is what the peer chose: whichever back end reads it, the same secret or the same refusal
  // (OpenSSL's hybrid form, taken by one and refused by the other, was found so)
  it("agrees with noble on a peer's point of any first byte and any length around a point's", () => {
    const own = node.generate()
    const peer = node.generate().publicKey
    const hexOf = (secret: Uint8Array | undefined) => secret && toHex(secret)
    let taken = 0
    for (const length of [1, 33, 48, 49, 50, 96, 97, 98, 145])
      for (let first = 0; first < 256; first++) {
        // the first byte, then the peer's coordinates as far as they go
        const point = new Uint8Array(length)
        point.set(peer.subarray(1, Math.min(length, PUBLIC_KEY_BYTES)), 1)
        point[0] = first
        for (const privateKey of [own.privateKey, new Uint8Array(own.privateKey)]) {
          const secret = hexOf(node.sharedSecret(privateKey, point))
          expect([length, first, secret]).toEqual([length, first, hexOf(noble.sharedSecret(privateKey, point))])
          if (secret !== undefined) taken++
        }
      }
    // 04 ‖ X ‖ Y, and X with either parity byte (02, 03): each through both of node's paths
    expect(taken).toBe(6)
  })

  // Node 20 ties the key objects of generateKeyPairSync to a job that the garbage collector frees, taking the
  // key's lock: a collection during that key's JWK export or shared secret waited for the lock for ever
  it("a pair made on the spot comes from no key generation job (the collector would free it under the key's lock)", () => {
    const jobs: Array<string> = []
    const hook = createHook({ init: (_, type) => void (type === "KEYPAIRGENREQUEST" && jobs.push(type)) }).enable()
    try {
      for (let i = 0; i < 8; i++) node.generate()
    } finally {
      hook.disable()
    }
    expect(jobs).toEqual([])
  })

  it("pairs made on the spot and used, while garbage is collected often, never freeze the process", () => {
    // before: 5 runs of 8 froze within 6,000 pairs (a young generation of 1 MB, collected every few hundred pairs)
    const child = spawnSync(
      process.execPath,
      ["--max-semi-space-size=1", path.join(import.meta.dirname, "support/keys-under-gc.mjs"), "6000"],
      { encoding: "utf8", timeout: 60_000 }
    )
    expect(child.signal).toBeNull()
    expect(child.stdout.trim()).toBe("done")
  }, 90_000)

  it("generateAhead hands over a pair made in the thread pool before the call, then starts the next; each pair keeps its key object", async () => {
    // node:crypto's own functions, watched: the layer reaches them through its ES module bindings
    const nodeCrypto = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto")
    const { generateKeyPair, createECDH } = nodeCrypto
    let made = 0
    let madeNow = 0
    let done: () => void = () => {}
    const patched = nodeCrypto as unknown as Record<string, unknown>
    // a pair made on the spot starts from an ECDH object
    patched["createECDH"] = (...args: Array<never>) => (madeNow++, (createECDH as (...a: Array<never>) => unknown)(...args))
    patched["generateKeyPair"] = (type: never, options: never, callback: (...r: Array<unknown>) => void) =>
      (generateKeyPair as (...a: Array<unknown>) => void)(type, options, (...result: Array<unknown>) => {
        made++
        callback(...result)
        done()
      })
    syncBuiltinESMExports()
    try {
      const pairs = []
      for (let i = 0; i < 4; i++) {
        const ready = new Promise<void>((resolve) => (done = resolve))
        pairs.push(node.generateAhead!())
        // bounded: an implementation that makes nothing ahead fails the counts below instead of hanging
        await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 2_000))])
      }
      // only the very first was made on the spot; each call started the next one in the thread pool
      expect(madeNow).toBeLessThanOrEqual(1)
      expect(made).toBe(4)
      expect(new Set(pairs.map((p) => toHex(p.privateKey))).size).toBe(4)
      // each computes its secrets from its OpenSSL key object, none rebuilt from its scalar (an ECDH object
      // given the scalar recomputes the public point: a scalar multiplication, as costly as the secret itself)
      madeNow = 0
      for (const pair of pairs) expect(node.sharedSecret(pair.privateKey, pairs[0]!.publicKey)).toBeDefined()
      expect(madeNow).toBe(0)
      for (const p of pairs) expect(toHex(noble.fromPrivate(p.privateKey).publicKey)).toBe(toHex(p.publicKey))
      const [a, b] = [pairs[0]!, pairs[3]!]
      expect(toHex(node.sharedSecret(a.privateKey, b.publicKey)!)).toBe(toHex(noble.sharedSecret(b.privateKey, a.publicKey)!))
    } finally {
      patched["createECDH"] = createECDH
      patched["generateKeyPair"] = generateKeyPair
      syncBuiltinESMExports()
    }
  })

  it("the DER copies of a private key that making a pair needs are zeroed once the pair is made", async () => {
    const nodeCrypto = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto")
    const { createPrivateKey } = nodeCrypto
    // private key objects have their own export (PrivateKeyObject, which node does not export by name)
    const privateKeys = Object.getPrototypeOf(nodeCrypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey) as {
      export: (options?: { type?: string }) => unknown
    }
    const { export: exportKey } = privateKeys
    // what the layer hands to OpenSSL (a pair made on the spot) and what it reads back (one made ahead): each
    // buffer, and a copy of what it held then
    const given: Array<[Buffer, Buffer]> = []
    const exported: Array<[Buffer, Buffer]> = []
    const patched = nodeCrypto as unknown as Record<string, unknown>
    patched["createPrivateKey"] = (key: { key: Buffer }) => (given.push([key.key, Buffer.from(key.key)]), createPrivateKey(key as never))
    privateKeys.export = function (this: unknown, options) {
      const out = exportKey.call(this, options)
      if (options?.type === "sec1") exported.push([out as Buffer, Buffer.from(out as Buffer)])
      return out
    }
    syncBuiltinESMExports()
    try {
      const now = node.generate()
      // the next pair ahead is made in the thread pool: bounded wait until it is there
      node.generateAhead!()
      for (let i = 0; i < 100 && exported.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      const ahead = node.generateAhead!()
      expect(given.length).toBeGreaterThanOrEqual(1)
      expect(exported.length).toBeGreaterThanOrEqual(1)
      // each held a pair's scalar, and holds only zeros now
      expect(given[0]![1].includes(Buffer.from(now.privateKey))).toBe(true)
      expect(exported.some(([, copy]) => copy.includes(Buffer.from(ahead.privateKey)))).toBe(true)
      for (const [der] of [...given, ...exported]) expect(der.every((b) => b === 0)).toBe(true)
    } finally {
      patched["createPrivateKey"] = createPrivateKey
      privateKeys.export = exportKey
      syncBuiltinESMExports()
    }
  })
})
