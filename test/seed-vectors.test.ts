import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { fromHex, toHex, utf8 } from "../src/domain/bytes.js"
import { encodeFrame } from "../src/domain/frame.js"
import { pemFromPoint, pointFromPem } from "../src/domain/pem.js"
import { dumpsStringObject } from "../src/domain/pythonJson.js"
import type { Session, Step } from "../src/domain/session.js"
import { handshake } from "../src/layers/SeedProtocol.js"
import type { FramedConn } from "../src/services/Framing.js"
import { backends, loadSharedVectors, scripted } from "./support/vectors.js"

const vectors = loadSharedVectors("seed-protocol.json")

/** A FramedConn that hands out recorded frames and records what is written. */
const recordingConn = (incoming: Array<Uint8Array>) => {
  const written: Array<Uint8Array> = []
  const conn: FramedConn = {
    conn: undefined as never,
    maxFrame: 1 << 20,
    readFrame: Effect.sync(() => incoming.shift()!),
    readFrames: Effect.sync(() => [incoming.shift()!]),
    writeFrames: (bodies) => Effect.sync(() => void written.push(...bodies))
  }
  return { conn, written }
}

const frameBody = (frameHex: string) => fromHex(frameHex).subarray(4)

describe.each(backends)("seed protocol known-answer vectors ($name)", ({ p }) => {
  it("P-384 public keys serialise to the exact PEM chat.py writes, and parse back", () => {
    for (const c of vectors.cases) {
      for (const party of [c.listener, c.client]) {
        const pair = p.ecdh.fromPrivate(fromHex(party.priv_scalar_hex))
        expect(toHex(pair.publicKey)).toBe(party.pub_uncompressed_point_hex)
        expect(pemFromPoint(pair.publicKey)).toBe(party.pub_pem)
        expect(toHex(pointFromPem(party.pub_pem)!)).toBe(party.pub_uncompressed_point_hex)
        expect(toHex(p.kdf.hash("sha256", utf8(party.pub_pem)))).toBe(party.pub_pem_sha256)
      }
    }
  })

  it("a peer's PEM that is not an uncompressed P-384 point, or has a line too many, is no key", () => {
    const pem = vectors.cases[0]!.client.pub_pem
    const lines = pem.trimEnd().split("\n")
    const der = Buffer.from(lines.slice(1, -1).join(""), "base64")
    const asPem = (bytes: Buffer) => [lines[0], ...(bytes.toString("base64").match(/.{1,64}/g) ?? []), lines.at(-1), ""].join("\n")
    expect(toHex(pointFromPem(asPem(der))!)).toBe(vectors.cases[0]!.client.pub_uncompressed_point_hex)
    // the point's first byte says how it is written: 0x04 uncompressed, the one form a 97-byte point has
    for (const marker of [0x00, 0x02, 0x03, 0x06]) {
      const other = Buffer.from(der)
      other[der.length - 97] = marker
      expect(pointFromPem(asPem(other))).toBeUndefined()
    }
    expect(pointFromPem(asPem(Buffer.concat([der, Buffer.alloc(48)])))).toBeUndefined()
  })

  it("a private scalar with leading zero bytes keeps its 48 bytes, and agrees with its peer", () => {
    const peer = p.ecdh.generate()
    for (const zeros of [1, 2]) {
      const scalar = fromHex("00".repeat(zeros) + "5a".repeat(48 - zeros))
      const pair = p.ecdh.fromPrivate(scalar)
      expect(toHex(pair.privateKey)).toBe(toHex(scalar))
      expect(pair.publicKey.length).toBe(97)
      const ours = p.ecdh.sharedSecret(pair.privateKey, peer.publicKey)!
      expect(ours.length).toBe(48)
      expect(toHex(ours)).toBe(toHex(p.ecdh.sharedSecret(peer.privateKey, pair.publicKey)!))
    }
  })

  it("ECDH and HKDF give the recorded shared secret, first key and sub-key", () => {
    for (const c of vectors.cases) {
      const shared = p.ecdh.sharedSecret(fromHex(c.listener.priv_scalar_hex), pointFromPem(c.client.pub_pem)!)!
      expect(toHex(shared)).toBe(c.ecdh_shared_secret_hex)
      const key = p.kdf.hkdf("sha384", shared, fromHex(c.handshake_salt_hex), utf8("encryption key"), 32)
      expect(toHex(key)).toBe(c.encryption_key_hex)
      const sub = c.subkey_example
      expect(toHex(p.kdf.hkdf("sha384", fromHex(sub.ikm_hex), fromHex(sub.salt_hex), utf8(sub.info), 32))).toBe(sub.okm_hex)
    }
  })

  for (const c of vectors.cases) {
    it.effect(`${c.name}: handshake frames, every message frame and every reply are byte-identical`, () =>
      Effect.gen(function* () {
        // the listener draws the salt, then (per step) its own recorded randomness
        const listenerRandoms = [c.handshake_salt_hex]
        const clientRandoms: Array<string> = []
        const listenerScalars = [c.listener.priv_scalar_hex]
        const clientScalars = [c.client.priv_scalar_hex]
        for (const s of c.steps) {
          const [senderR, senderS, responderR, responderS] =
            s.sender === "listener"
              ? [listenerRandoms, listenerScalars, clientRandoms, clientScalars]
              : [clientRandoms, clientScalars, listenerRandoms, listenerScalars]
          senderS.push(s.sender_ephemeral.priv_scalar_hex)
          senderR.push(s.ratchet_salt_hex, s.sub_salt_hex, s.nonce_hex)
          responderS.push(s.responder_ephemeral.priv_scalar_hex)
          responderR.push(s.response_nonce_hex)
        }
        const listenerSide = recordingConn([frameBody(c.handshake_frame2_client_to_listener_hex)])
        const clientSide = recordingConn([frameBody(c.handshake_frame1_listener_to_client_hex)])
        const listener = yield* handshake(scripted(p, listenerRandoms, listenerScalars), listenerSide.conn, "listener")
        const client = yield* handshake(scripted(p, clientRandoms, clientScalars), clientSide.conn, "connector")
        expect(toHex(encodeFrame(listenerSide.written[0]!))).toBe(c.handshake_frame1_listener_to_client_hex)
        expect(toHex(encodeFrame(clientSide.written[0]!))).toBe(c.handshake_frame2_client_to_listener_hex)
        expect(listener.info.localFingerprint).toBe(c.listener.pub_pem_sha256)
        expect(listener.info.peerFingerprint).toBe(c.client.pub_pem_sha256)
        expect(client.info.peerFingerprint).toBe(c.listener.pub_pem_sha256)

        for (const [i, s] of c.steps.entries()) {
          const [sender, receiver]: [Session, Session] = s.sender === "listener" ? [listener, client] : [client, listener]
          // the construct_json of the vector is what Python's json.dumps wrote
          const sent = sender.send(`m${i}`, s.message_text)
          expect(sent.frames).toHaveLength(1)
          expect(toHex(encodeFrame(sent.frames[0]!))).toBe(s.frame_hex)
          const got = receiver.receive(sent.frames[0]!) as Step
          expect(got.frames).toHaveLength(1)
          expect(toHex(encodeFrame(got.frames[0]!))).toBe(s.response_frame_hex)
          expect(got.events).toEqual(
            s.message_text === "/quit"
              ? [{ _tag: "PeerLeft", reason: "quit" }]
              : [{ _tag: "Message", id: expect.any(String), text: s.message_text }]
          )
          const delivered = sender.receive(got.frames[0]!) as Step
          expect(delivered.events).toEqual([{ _tag: "Delivered", ids: [`m${i}`] }])
          expect(sender.settled()).toBe(true)
        }
      })
    )
  }

  it("json.dumps output matches Python's for every recorded message", () => {
    for (const c of vectors.cases)
      for (const s of c.steps) {
        const parsed = JSON.parse(s.construct_json)
        expect(dumpsStringObject(parsed)).toBe(s.construct_json)
      }
  })

  // written by Python 3.11's json.dumps (the recorded messages hold none of DEL, C0 controls or astral characters)
  it("json.dumps output matches Python's for the characters it escapes: controls, DEL, non-ASCII, astral, quote, backslash", () => {
    expect(dumpsStringObject({ message: "\x7f \u00e9 \u{1f600} \b\f\n\r\t\x01\"\\~ ", k: "v" })).toBe(
      '{"message": "\\u007f \\u00e9 \\ud83d\\ude00 \\b\\f\\n\\r\\t\\u0001\\"\\\\~ ", "k": "v"}'
    )
  })
})
