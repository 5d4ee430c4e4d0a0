import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Scope } from "effect"
import { SessionError } from "../src/domain/errors.js"
import { pemFromPoint } from "../src/domain/pem.js"
import type { Step } from "../src/domain/session.js"
import { startChat } from "../src/layers/ChatDriver.js"
import * as Ratchet from "../src/layers/DoubleRatchet.js"
import { frame } from "../src/layers/LengthPrefixFraming.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import type { Primitives } from "../src/layers/Primitives.js"
import * as SeedProtocol from "../src/layers/SeedProtocol.js"
import { deriveHandshake, handshake, type V2Session } from "../src/layers/V2Protocol.js"
import { V2_MAGIC } from "../src/domain/version.js"
import type { EcdhKeyPair } from "../src/services/KeyAgreement.js"
import type { Conn } from "../src/services/Transport.js"
import { ratchetPair } from "./support/ratchet.js"
import { relayedConns, relayedHandshake } from "./support/relay.js"
import { keysOf, linked, linkedSeed, linkedV2, node, sealedAs } from "./support/sessions.js"

/**
 * DoubleRatchet promises that after a successful step the old state's secrets are wiped. Chain keys are the
 * ones that matter for forward secrecy: a chain key left in memory derives every later message key of its
 * chain. These tests record every chain key a side derives (HMAC over the constant 0x02) and check that,
 * once it has decrypted, only the chain keys its live state holds are still non-zero.
 */
/** What the v2 handshake's key confirmations start with (HMAC keyed with a confirmation key). */
const CONFIRMS = [Buffer.from("connector confirms"), Buffer.from("listener confirms")]

/**
 * Primitives that keep every chain key (HMAC over 0x02), message key (over 0x01), HKDF output, P-384 key pair and
 * shared secret they make, and the keys of the handshake's key confirmations.
 */
const recording = () => {
  const chainKeys: Array<Uint8Array> = []
  const messageKeys: Array<Uint8Array> = []
  const sharedSecrets: Array<Uint8Array> = []
  const rootOutputs: Array<Uint8Array> = []
  const pairs: Array<EcdhKeyPair> = []
  const confirmKeys: Array<Uint8Array> = []
  const generate = () => {
    const pair = node.ecdh.generate()
    pairs.push(pair)
    return pair
  }
  const hkdf: Primitives["kdf"]["hkdf"] = (...args) => {
    const out = node.kdf.hkdf(...args)
    rootOutputs.push(out)
    return out
  }
  const hmac: Primitives["kdf"]["hmac"] = (hash, key, data) => {
    const out = node.kdf.hmac(hash, key, data)
    if (CONFIRMS.some((label) => Buffer.from(data.subarray(0, label.length)).equals(label))) confirmKeys.push(key)
    if (data.length === 1 && data[0] === 0x02) chainKeys.push(out)
    if (data.length === 1 && data[0] === 0x01) messageKeys.push(out)
    return out
  }
  const sharedSecret: Primitives["ecdh"]["sharedSecret"] = (privateKey, publicKey) => {
    const out = node.ecdh.sharedSecret(privateKey, publicKey)
    if (out !== undefined) sharedSecrets.push(out)
    return out
  }
  // seed makes its pairs ahead (generateAhead): recorded the same
  const p: Primitives = { ...node, kdf: { ...node.kdf, hmac, hkdf }, ecdh: { ...node.ecdh, generate, generateAhead: generate, sharedSecret } }
  return { p, chainKeys, messageKeys, sharedSecrets, rootOutputs, pairs, confirmKeys }
}

const isZero = (bytes: Uint8Array) => bytes.every((b) => b === 0)
const AD = new Uint8Array(48).fill(7)
const text = (s: string) => new TextEncoder().encode(s)

const send = (state: Ratchet.RatchetState, s: string, now: number, p: Primitives = node) => {
  const r = Ratchet.encrypt(p, state, text(s), AD, 100, now)
  return { state: r.state, header: r.sealed.subarray(0, Ratchet.HEADER_BYTES), body: r.sealed.subarray(Ratchet.HEADER_BYTES) }
}

const receive = (p: Primitives, state: Ratchet.RatchetState, m: { header: Uint8Array; body: Uint8Array }, expected: string) => {
  const r = Ratchet.decrypt(p, state, m.header, m.body, AD)
  if (typeof r === "string") throw new Error(`decrypt failed: ${r}`)
  expect(new TextDecoder().decode(r.plaintext)).toBe(expected)
  return r.state
}

/** The chain keys recorded that are not zero, other than those the live state holds (by content). */
const leftOver = (chainKeys: ReadonlyArray<Uint8Array>, live: Ratchet.RatchetState) => {
  const held = [live.ckr, live.cks].filter((k) => k !== undefined).map((k) => Buffer.from(k!).toString("hex"))
  return chainKeys.map((k) => k.subarray(0, 32)).filter((k) => !isZero(k) && !held.includes(Buffer.from(k).toString("hex")))
}

describe("Double Ratchet: chain keys are wiped once used", () => {
  it("messages received out of order leave no chain key but the current one", () => {
    const { p, chainKeys } = recording()
    const { listener, connector } = ratchetPair()
    let l = listener
    const sent = ["zero", "one", "two", "three"].map((s, i) => {
      const m = send(l, s, 1_000 + i)
      l = m.state
      return { ...m, s }
    })
    // the third first: the first two are skipped, their message keys stored
    let c = receive(p, connector, sent[2]!, "two")
    expect(leftOver(chainKeys, c)).toEqual([])
    c = receive(p, c, sent[0]!, "zero")
    c = receive(p, c, sent[1]!, "one")
    c = receive(p, c, sent[3]!, "three")
    expect(leftOver(chainKeys, c)).toEqual([])
  })

  it("a new ratchet key from the peer wipes the receiving chain it closes, and the root KDF's output", () => {
    const { p, chainKeys, rootOutputs } = recording()
    const { listener, connector } = ratchetPair()
    const first = send(listener, "before", 1_000)
    let c = receive(p, connector, first, "before")
    // the connector answers, so the listener's next send (100 ms on) makes a new key pair: a new chain
    const answer = send(c, "answer", 1_000, p)
    c = answer.state
    const l = Ratchet.decrypt(node, first.state, answer.header, answer.body, AD)
    if (typeof l === "string") throw new Error(l)
    const onNewChain = send(l.state, "after", 2_000)
    expect(Buffer.from(onNewChain.header.subarray(0, 97)).equals(Buffer.from(listener.dhs.publicKey))).toBe(false)
    c = receive(p, c, onNewChain, "after")
    expect(leftOver(chainKeys, c)).toEqual([])
    // one at the connector's first send, one for the new chain: cut into keys, then wiped
    expect(rootOutputs.length).toBe(2)
    for (const o of rootOutputs) expect(isZero(o)).toBe(true)
  })

  it("a chain closed with messages still missing keeps their message keys, not its chain key; a late one then opens", () => {
    const { p, chainKeys } = recording()
    const { listener, connector } = ratchetPair()
    const zero = send(listener, "zero", 1_000)
    const one = send(zero.state, "one", 1_001)
    let c = receive(p, connector, zero, "zero")
    const answer = send(c, "answer", 1_002, p)
    c = answer.state
    const l = Ratchet.decrypt(node, one.state, answer.header, answer.body, AD)
    if (typeof l === "string") throw new Error(l)
    // on a new chain, its header saying the old one held 2: "one" is skipped as the old chain closes, and the
    // chain key derived past it is wiped (closing walked it on from the state's own)
    const onNewChain = send(l.state, "after", 2_000)
    c = receive(p, c, onNewChain, "after")
    expect(c.skipped.size).toBe(1)
    expect(leftOver(chainKeys, c)).toEqual([])
    c = receive(p, c, one, "one")
    expect(c.skipped.size).toBe(0)
  })
})

describe("Double Ratchet: message keys, DH outputs and replaced root keys are wiped once used", () => {
  it("after messages both ways, out of order and across DH steps, none of them is left in memory", () => {
    const { p, messageKeys, sharedSecrets } = recording()
    const { listener, connector } = ratchetPair()
    const listenerFirst = listener.dhs.privateKey
    let l = listener
    const sent = ["zero", "one", "two", "three"].map((s, i) => {
      const m = send(l, s, 1_000 + i, p)
      l = m.state
      return m
    })
    // the third first: the keys of the first two are stored, then each used once
    let c = receive(p, connector, sent[2]!, "two")
    expect(c.skipped.size).toBe(2)
    for (const i of [0, 1, 3]) c = receive(p, c, sent[i]!, ["zero", "one", "two", "three"][i]!)
    expect(c.skipped.size).toBe(0)
    // the connector's answer makes its first key pair: a DH step on each side, each replacing a root key
    const connectorRoot = c.rk
    const answer = send(c, "answer", 2_000, p)
    c = answer.state
    const listenerRoot = l.rk
    l = receive(p, l, answer, "answer")
    const onNewChain = send(l, "after", 3_000, p)
    l = onNewChain.state
    const secondRoot = c.rk
    c = receive(p, c, onNewChain, "after")
    // and the connector's next turn replaces its first key pair
    const connectorFirst = c.dhs.privateKey
    l = receive(p, l, send(c, "again", 4_000, p), "again")
    expect(messageKeys.length).toBe(7 * 2)
    expect(messageKeys.filter((k) => !isZero(k))).toEqual([])
    // each turn a DH step on both sides: its sending half where it sends, its receiving half where it arrives
    expect(sharedSecrets.length).toBe(6)
    expect(sharedSecrets.filter((k) => !isZero(k))).toEqual([])
    for (const replaced of [connectorRoot, listenerRoot, secondRoot, listenerFirst, connectorFirst]) expect(isZero(replaced)).toBe(true)
    expect(isZero(l.rk) || isZero(l.dhs.privateKey)).toBe(false)
  })
})

/**
 * Primitives that keep every key a decryption or handshake derives: chain and message keys (HMAC outputs), the
 * root and chain keys cut from each root KDF output (`cuts`, the slices it is cut into), and shared secrets; and
 * the key pairs they make.
 */
const recordingDerived = () => {
  // on top of `recording`, which keeps the key pairs made
  const { p: base, pairs } = recording()
  const derived: Array<Uint8Array> = []
  const cuts: Array<Uint8Array> = []
  // kdfRk cuts its HKDF output with `slice`: this output's own `slice` records what it is cut into
  const hkdf: Primitives["kdf"]["hkdf"] = (...args) => {
    const out = base.kdf.hkdf(...args)
    out.slice = (start, end) => {
      const part = Uint8Array.prototype.slice.call(out, start, end)
      derived.push(part)
      cuts.push(part)
      return part
    }
    return out
  }
  const hmac: Primitives["kdf"]["hmac"] = (hash, key, data) => {
    const out = base.kdf.hmac(hash, key, data)
    derived.push(out.subarray(0, data[0] === 0x02 ? 32 : out.length))
    return out
  }
  const sharedSecret: Primitives["ecdh"]["sharedSecret"] = (privateKey, publicKey) => {
    const out = base.ecdh.sharedSecret(privateKey, publicKey)
    if (out !== undefined) derived.push(out)
    return out
  }
  const p: Primitives = { ...base, kdf: { ...base.kdf, hmac, hkdf }, ecdh: { ...base.ecdh, sharedSecret } }
  return { p, derived, cuts, pairs }
}

const hex = (k: Uint8Array) => Buffer.from(k).toString("hex")
/** Every secret a state holds, as hex. */
const secretsOf = (s: Ratchet.RatchetState) =>
  [s.rk, s.cks, s.ckr, s.dhs.privateKey, ...s.skipped.values()].filter((k) => k !== undefined).map((k) => hex(k!))
/** Keys recorded that are not zero and not held by the state the caller goes on with. */
const strays = (derived: ReadonlyArray<Uint8Array>, live: Ratchet.RatchetState) => {
  const held = secretsOf(live)
  return derived.filter((k) => !isZero(k) && !held.includes(hex(k))).map(hex)
}
const tampered = (m: { header: Uint8Array; body: Uint8Array }) => {
  const body = m.body.slice()
  body[body.length - 1]! ^= 1
  return { header: m.header, body }
}
const withHeader = (m: { header: Uint8Array; body: Uint8Array }, change: (h: Ratchet.Header) => Ratchet.Header) => ({
  header: Ratchet.encodeHeader(change(Ratchet.decodeHeader(m.header)!)),
  body: m.body
})

/**
 * The listener sends "zero" and "one"; the connector reads `read` of them and answers; the listener's next
 * messages ("after", "later") are on a new chain whose headers say the old one held 2.
 */
const acrossDhStep = (read: number) => {
  const { listener, connector } = ratchetPair()
  const zero = send(listener, "zero", 1_000)
  const one = send(zero.state, "one", 1_001)
  let c = connector
  for (const [m, s] of ([[zero, "zero"], [one, "one"]] as const).slice(0, read)) c = receive(node, c, m, s)
  const answer = send(c, "answer", 1_002)
  const after = send(receive(node, one.state, answer, "answer"), "after", 2_000)
  return { connector: answer.state, one, after, later: send(after.state, "later", 2_001) }
}

describe("Double Ratchet: a failed decryption zeroes what it derived and leaves the state whole", () => {
  const fails = (state: Ratchet.RatchetState, m: { header: Uint8Array; body: Uint8Array }, failure: Ratchet.RatchetFailure) => {
    const { p, derived } = recordingDerived()
    const before = secretsOf(state)
    expect(Ratchet.decrypt(p, state, m.header, m.body, AD)).toBe(failure)
    // the walk to the message derived keys (which a mutant keeping them would leave non-zero)
    expect(derived.length).toBeGreaterThan(0)
    expect(strays(derived, state)).toEqual([])
    expect(secretsOf(state)).toEqual(before)
  }

  it("a forged message past one skipped on the same chain: its key and the chain walked past are zero, the keys stored before whole, the real ones still open", () => {
    const { listener, connector } = ratchetPair()
    const words = ["zero", "one", "two", "three", "four"]
    let l = listener
    const sent = words.map((s, i) => {
      const m = send(l, s, 1_000 + i)
      l = m.state
      return m
    })
    // "two" first: the keys of "zero" and "one" are stored
    let c = receive(node, connector, sent[2]!, "two")
    fails(c, tampered(sent[4]!), "Decrypt")
    for (const i of [0, 1, 3, 4]) c = receive(node, c, sent[i]!, words[i]!)
  })

  it("a forged message on the same chain, next in turn: the chain key after it is zero", () => {
    const { listener, connector } = ratchetPair()
    const zero = send(listener, "zero", 1_000)
    const one = send(zero.state, "one", 1_001)
    const c = receive(node, connector, zero, "zero")
    fails(c, tampered(one), "Decrypt")
    receive(node, c, one, "one")
  })

  it("a forged message on a new chain, one in it skipped, the old one closed with a message missing: both chains' keys, the skipped keys and the new root key are zero", () => {
    const { connector, one, after, later } = acrossDhStep(1)
    fails(connector, tampered(later), "Decrypt")
    let c = receive(node, connector, later, "later")
    c = receive(node, c, after, "after")
    receive(node, c, one, "one")
  })

  it("a forged message on a new chain that closes the old one complete: the old chain's key is not touched", () => {
    const { connector, after } = acrossDhStep(2)
    fails(connector, tampered(after), "Decrypt")
    receive(node, connector, after, "after")
  })

  it("a new chain whose message lies too far ahead: what closing the old chain and the DH step derived is zero", () => {
    const { connector, one, after } = acrossDhStep(1)
    fails(connector, withHeader(after, (h) => ({ ...h, n: Ratchet.MAX_SKIP + 1 })), "TooManySkipped")
    const c = receive(node, connector, after, "after")
    receive(node, c, one, "one")
  })

  it("a new peer key that is not a point on the curve: the key skipped while closing the old chain is zero", () => {
    const { connector, one, after } = acrossDhStep(1)
    const notOnCurve = Uint8Array.of(0x04, ...new Uint8Array(96).fill(1))
    fails(connector, withHeader(after, (h) => ({ ...h, dh: notOnCurve })), "BadKey")
    const c = receive(node, connector, after, "after")
    receive(node, c, one, "one")
  })
})

describe("v2 handshake: the key material is wiped once split", () => {
  it("the HKDF outputs the keys were cut from are zero, the keys themselves are not", () => {
    const { p, rootOutputs: outputs } = recording()
    const bytes = (n: number) => node.random(n)
    const keys = deriveHandshake(p, bytes(32), { announce: bytes(10), commit: bytes(57), helloListener: bytes(138), helloConnector: bytes(138) }, bytes(48))
    expect(outputs.map((o) => o.length).sort((a, b) => a - b)).toEqual([4, 128])
    for (const o of outputs) expect(isZero(o)).toBe(true)
    for (const k of [keys.rootKey, keys.listenerChain, keys.confirmConnectorKey, keys.confirmListenerKey]) expect(isZero(k)).toBe(false)
    expect(keys.sas).toMatch(/^\d{4} \d{4}$/)
  })
})

describe("v2 handshake: the connector's handshake key is wiped once the handshake is done", () => {
  it.effect("its private key is zero, and both sides' key-confirmation keys; the listener's, its first ratchet key, is whole", () =>
    Effect.gen(function* () {
      const { p, pairs, confirmKeys } = recording()
      const { connector, listener } = yield* linkedV2(p)
      const byFingerprint = (hex: string) => pairs.find((k) => Buffer.from(node.kdf.hash("sha256", k.publicKey)).toString("hex") === hex)!
      const connectorKey = byFingerprint(connector.info.localFingerprint)
      const listenerKey = byFingerprint(listener.info.localFingerprint)
      expect(isZero(connectorKey.privateKey)).toBe(true)
      expect(isZero(listenerKey.privateKey)).toBe(false)
      // the key-confirmation keys, each side's own and the one it checked the peer's with, have done their job
      expect(confirmKeys).toHaveLength(4)
      expect(confirmKeys.filter((k) => !isZero(k))).toEqual([])
      // and the chat still works both ways
      for (const [from, to] of [[connector, listener], [listener, connector]] as const) {
        const received = to.receive(from.send("1", "hi").frames[0]!)
        if (received instanceof SessionError) throw received
        expect(received.events.flatMap((e) => (e._tag === "Message" ? [e.text] : []))).toEqual(["hi"])
      }
    })
  )
})

/** The connection, keeping in `exported` what its TLS exporter (here the in-memory one) gives. */
const recordingExporter = (exported: Array<Uint8Array>) => (conn: Conn): Conn => ({
  ...conn,
  exportKeyingMaterial: (length, label) => {
    const out = conn.exportKeyingMaterial(length, label)
    exported.push(out)
    return out
  }
})

describe("v2 handshake: the TLS exporter's output is wiped once it is in the transcript", () => {
  it.effect("both sides' exporter bytes are zero once the handshake is done, and the two agreed", () =>
    Effect.gen(function* () {
      const exported: Array<Uint8Array> = []
      const recorded = recordingExporter(exported)
      const { connector, listener } = yield* linked<V2Session>((p, conn, role) => handshake(p, conn, role), node, (c, l) =>
        Effect.succeed([recorded(c), recorded(l)] as const)
      )
      expect(exported.map((e) => e.length)).toEqual([32, 32])
      expect(exported.filter((e) => !isZero(e)).map(hex)).toEqual([])
      expect(connector.info.sas).toBe(listener.info.sas)
    })
  )
})

describe("a failed v2 handshake zeroes the key pairs it made and the keys it derived", () => {
  it.effect("a listener that closes after the commitment: the connector's key pair and TLS exporter bytes are zero", () =>
    Effect.gen(function* () {
      const { p, pairs } = recording()
      const exported: Array<Uint8Array> = []
      const [c0, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const c = recordingExporter(exported)(c0)
      const listener = frame(l)
      const connecting = yield* Effect.fork(handshake(p, frame(c), "connector"))
      yield* listener.writeFrames([Uint8Array.of(...V2_MAGIC, 0x01, 0x00)])
      const commit = yield* listener.readFrame
      expect(commit[8]).toBe(0x02)
      yield* l.close
      const exit = yield* connecting.await
      expect(Exit.isFailure(exit)).toBe(true)
      // its handshake key (its first ratchet key pair is made at its first send)
      expect(pairs.length).toBe(1)
      for (const k of pairs) expect(isZero(k.privateKey)).toBe(true)
      // and what its TLS exporter gave it at the start
      expect(exported.map((e) => e.length)).toEqual([32])
      expect(isZero(exported[0]!)).toBe(true)
    })
  )

  it.scoped("a relayed TLS session fails key confirmation: each side's root key, first chain and confirmation keys are zero", () =>
    Effect.gen(function* () {
      const { p, cuts } = recordingDerived()
      const [c, l] = yield* relayedHandshake({ shared: false, p })
      expect(Either.isLeft(c) && Either.isLeft(l)).toBe(true)
      expect([c, l].map((e) => (Either.isLeft(e) ? (e.left as { reason?: string }).reason : undefined))).toContain("Confirmation")
      // root key, the listener's first chain and both confirmation keys, on each side
      expect(cuts.length).toBe(8)
      expect(cuts.filter((k) => !isZero(k)).map(hex)).toEqual([])
    })
  )

  it.scoped("a listener interrupted while it waits for the connector's key confirmation: its derived keys and key pair are zero", () =>
    Effect.gen(function* () {
      const { p, cuts, pairs } = recordingDerived()
      // one TLS session relayed whole, but the connector's key confirmation (frame type 0x05) is held back
      const [c, l] = yield* relayedConns({ shared: true, keep: (f) => f[8] !== 0x05 })
      const listening = yield* Effect.fork(handshake(p, frame(l), "listener"))
      // the connector finishes: it has the listener's confirmation, which the listener sends once it derived its keys
      const connector = yield* handshake(node, frame(c), "connector")
      expect(connector.info.protocol).toBe("v2")
      yield* Fiber.interrupt(listening)
      expect(cuts.length).toBe(4)
      expect(cuts.filter((k) => !isZero(k)).map(hex)).toEqual([])
      expect(pairs.length).toBe(1)
      expect(isZero(pairs[0]!.privateKey)).toBe(true)
    })
  )
})

describe("seed: keys are wiped once used", () => {
  it.effect("after messages both ways, only the current key is left of the keys derived, shared and made", () =>
    Effect.gen(function* () {
      const { p, rootOutputs: derived, sharedSecrets, pairs } = recording()
      const { connector: a, listener: b } = yield* linkedSeed(p)
      const made = pairs.length
      const step = (r: Step | SessionError) => {
        if (r instanceof SessionError) throw r
        return r
      }
      for (const [from, to] of [[a, b], [b, a], [a, b]] as const) step(from.receive(step(to.receive(from.send("1", "hi").frames[0]!)).frames[0]!))
      const keyOf = (s: SeedProtocol.SeedSession) => Buffer.from((s as unknown as { key: Uint8Array }).key).toString("hex")
      expect(keyOf(b)).toBe(keyOf(a))
      expect(derived.filter((k) => !isZero(k) && Buffer.from(k).toString("hex") !== keyOf(a))).toEqual([])
      expect(sharedSecrets.filter((k) => !isZero(k))).toEqual([])
      // each message's two fresh key pairs (sender's, receiver's)
      expect(pairs.length - made).toBe(6)
      // the handshake's pairs too, each done with once its shared secret was made
      expect(made).toBe(2)
      expect(pairs.filter((k) => !isZero(k.privateKey))).toEqual([])
    })
  )

  it.effect("a message whose key is not on the curve: the key pair made to answer it is zero", () =>
    Effect.gen(function* () {
      const { p, pairs } = recording()
      const { connector: a, listener: b } = yield* linkedSeed(p)
      const made = pairs.length
      const point = node.ecdh.generate().publicKey.slice()
      point[96]! ^= 1
      const json = JSON.stringify({
        message: "x",
        salt: Buffer.from(node.random(16)).toString("base64"),
        key: Buffer.from(pemFromPoint(point)).toString("base64"),
        sub_salt: Buffer.from(node.random(16)).toString("base64")
      })
      expect(b.receive(sealedAs(keysOf(a).key, 0x00, text(json)))).toMatchObject({ _tag: "SessionError", reason: "Malformed" })
      expect(pairs.length - made).toBe(1)
      expect(isZero(pairs.at(-1)!.privateKey)).toBe(true)
    })
  )

  it.effect("a handshake that fails or is interrupted: its key pair is zero", () =>
    Effect.gen(function* () {
      const { p, pairs } = recording()
      // a listener whose peer closes once it has the listener's hello
      const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const listening = yield* Effect.fork(SeedProtocol.handshake(p, frame(l), "listener"))
      yield* frame(c).readFrame
      yield* c.close
      expect(Exit.isFailure(yield* listening.await)).toBe(true)
      // a connector interrupted while it waits for the listener's hello
      const [c2] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const connecting = yield* Effect.fork(SeedProtocol.handshake(p, frame(c2), "connector"))
      yield* Effect.yieldNow()
      expect(pairs.length).toBe(2)
      expect(isZero(pairs[1]!.privateKey)).toBe(false)
      yield* Fiber.interrupt(connecting)
      expect(pairs.length).toBe(2)
      expect(pairs.filter((k) => !isZero(k.privateKey))).toEqual([])
    })
  )

  it.effect("forgotten while a key reply is due: the message's fresh key pair and the key it was sealed with are zero too", () =>
    Effect.gen(function* () {
      const { p, pairs } = recording()
      const { connector: a } = yield* linkedSeed(p)
      // the key the message is sealed with, which the session keeps to know a crossing message by
      const keyBefore = (a as unknown as { key: Uint8Array }).key
      a.send("1", "waits for its reply")
      const fresh = pairs.at(-1)!
      expect(isZero(fresh.privateKey)).toBe(false)
      expect(isZero(keyBefore)).toBe(false)
      a.forget()
      expect(isZero(fresh.privateKey)).toBe(true)
      expect(isZero(keyBefore)).toBe(true)
      expect(isZero((a as unknown as { key: Uint8Array }).key)).toBe(true)
    })
  )
})

describe("a chat's end: the session's keys are zeroed once its scope closes", () => {
  it.effect("v2: root, chain and our DH private key are zero afterwards, and the session refuses to seal", () =>
    Effect.gen(function* () {
      const { connector, listener } = yield* linkedV2()
      // a skipped message key held too: the third of three sent, the first two not received yet
      const sent = ["a", "b", "c"].map((t, i) => listener.send(String(i), t).frames[0]!)
      const got = connector.receive(sent[2]!)
      if (got instanceof SessionError) throw got
      // and a sending chain: the connector's first send made its first ratchet key pair
      connector.send("3", "answer")
      const held = connector.ratchetState
      expect(held.cks).toBeDefined()
      expect(held.skipped.size).toBe(2)
      const [c] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const scope = yield* Scope.make()
      const chat = yield* startChat(frame(c), connector, { emit: () => Effect.void, heartbeatMs: 0 }).pipe(Scope.extend(scope))
      yield* chat.send("still alive")
      expect(isZero(held.rk)).toBe(false)
      yield* Scope.close(scope, Exit.void)
      const after = connector.ratchetState
      for (const k of [after.rk, after.cks!, after.ckr!, after.dhs.privateKey, ...after.skipped.values()]) expect(isZero(k)).toBe(true)
      expect(() => connector.send("9", "too late")).toThrow(/after forget/)
      expect(() => connector.receive(sent[0]!)).toThrow(/after forget/)
    })
  )

  it.effect("seed: the message key is zero afterwards, and the session refuses to seal or open", () =>
    Effect.gen(function* () {
      const [c, l] = yield* MemoryTransport.makePair({ host: "c", port: 1 }, { host: "l", port: 2 })
      const [connector, listener] = yield* Effect.all(
        [SeedProtocol.handshake(node, frame(c), "connector"), SeedProtocol.handshake(node, frame(l), "listener")],
        { concurrency: 2 }
      )
      const key = (connector as unknown as { key: Uint8Array }).key
      expect(isZero(key)).toBe(false)
      const scope = yield* Scope.make()
      yield* startChat(frame(c), connector, { emit: () => Effect.void, heartbeatMs: 0 }).pipe(Scope.extend(scope))
      yield* Scope.close(scope, Exit.void)
      expect(isZero(key)).toBe(true)
      expect(() => connector.send("1", "too late")).toThrow(/after forget/)
      expect(() => connector.receive(listener.send("1", "hi").frames[0]!)).toThrow(/after forget/)
    })
  )
})
