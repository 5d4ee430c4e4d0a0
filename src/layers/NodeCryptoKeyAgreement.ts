import { Layer } from "effect"
import * as crypto from "node:crypto"
import { type Ecdh, type EcdhKeyPair, KeyAgreement, PUBLIC_KEY_BYTES } from "../services/KeyAgreement.js"

const CURVE = "secp384r1"
const PRIVATE_KEY_BYTES = 48
const COMPRESSED_POINT_BYTES = 49

/** DER SubjectPublicKeyInfo of a P-384 key up to its uncompressed point: algorithm id-ecPublicKey, secp384r1. */
const SPKI_PREFIX = Buffer.from("3076301006072a8648ce3d020106052b81040022036200", "hex")
/** DER ECPrivateKey (SEC 1) of a P-384 key as OpenSSL writes it, up to its 48-byte scalar. */
const SEC1_PREFIX = Buffer.from("3081a40201010430", "hex")
/** The same DER between the scalar and the point's coordinates: the curve, then the public key up to its 04. */
const SEC1_MIDDLE = Buffer.from("a00706052b81040022a16403620004", "hex")

/**
 * The OpenSSL object of each key pair we made, by its private key bytes, so that no operation has to rebuild it
 * from the scalar (`setPrivateKey` recomputes the public point, a scalar multiplication about as costly as the
 * ECDH itself). Weak: the entry goes when the key bytes do. Pairs we generate are key objects: with them a
 * shared secret takes 1.5 ms here against 1.9 through `ECDH.computeSecret` (Node 20's OpenSSL 3.0, whose P-384
 * is slow: 5x slower than the OpenSSL 3.x Python's `cryptography` ships).
 */
const objects = new WeakMap<Uint8Array, crypto.ECDH | crypto.KeyObject>()

const pairOfEcdh = (ecdh: crypto.ECDH): EcdhKeyPair => {
  // OpenSSL gives the scalar without its leading zero bytes (one key in 256): kept at 48 bytes, as documented
  const scalar = ecdh.getPrivateKey()
  const privateKey = new Uint8Array(PRIVATE_KEY_BYTES)
  privateKey.set(scalar, PRIVATE_KEY_BYTES - scalar.length)
  objects.set(privateKey, ecdh)
  return { privateKey, publicKey: new Uint8Array(ecdh.getPublicKey()) }
}

/**
 * A key object pair made in the thread pool, as bytes; undefined if OpenSSL ever writes them in another
 * layout. The public point is read from the JWK export (x and y): 4 µs here, where the DER
 * SubjectPublicKeyInfo export goes through OpenSSL 3's encoder framework, 130 µs.
 */
const pairOfKeyObjects = (publicKey: crypto.KeyObject, privateKeyObject: crypto.KeyObject): EcdhKeyPair | undefined => {
  const sec1 = privateKeyObject.export({ format: "der", type: "sec1" })
  const { x, y } = publicKey.export({ format: "jwk" })
  const scalarAt = SEC1_PREFIX.length
  // Node writes each coordinate at the field's full length (48 bytes); anything else is refused, not guessed at
  const xBytes = Buffer.from(x ?? "", "base64url")
  const yBytes = Buffer.from(y ?? "", "base64url")
  if (!sec1.subarray(0, scalarAt).equals(SEC1_PREFIX) || xBytes.length !== 48 || yBytes.length !== 48) return undefined
  const publicKeyBytes = new Uint8Array(PUBLIC_KEY_BYTES)
  publicKeyBytes[0] = 4
  publicKeyBytes.set(xBytes, 1)
  publicKeyBytes.set(yBytes, 49)
  const privateKey = new Uint8Array(sec1.subarray(scalarAt, scalarAt + PRIVATE_KEY_BYTES))
  sec1.fill(0)
  objects.set(privateKey, privateKeyObject)
  return { privateKey, publicKey: publicKeyBytes }
}

const sharedSecretOfObjects = (own: crypto.KeyObject, peerPublicKey: Uint8Array): Uint8Array =>
  new Uint8Array(
    crypto.diffieHellman({
      privateKey: own,
      // OpenSSL checks that the point is on the curve while parsing it
      publicKey: crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peerPublicKey]), format: "der", type: "spki" })
    })
  )

/**
 * A new pair, made by `ECDH` and given its key object from SEC 1 DER (its point included, so nothing is
 * recomputed; 0.25 ms more than `generateKeyPairSync` here). Not from `generateKeyPairSync`: Node 20 ties
 * that pair's key objects to the job that made them, which the garbage collector frees, and freeing it takes
 * the key's lock. A collection that comes while that key is in use (its lock held: a JWK export, a shared
 * secret) then waits for the lock for ever, and the whole process freezes: the test suite hung so; a loop of
 * pairs froze within 5 s in 5 runs of 8 (young generation capped at 1 MB, to collect often). A job of
 * `generateKeyPair` is freed as its callback returns, never by the collector (makeAhead).
 */
const generateNow = (): EcdhKeyPair => {
  const e = crypto.createECDH(CURVE)
  e.generateKeys()
  const pair = pairOfEcdh(e)
  const der = Buffer.concat([SEC1_PREFIX, pair.privateKey, SEC1_MIDDLE, pair.publicKey.subarray(1)])
  try {
    objects.set(pair.privateKey, crypto.createPrivateKey({ key: der, format: "der", type: "sec1" }))
  } catch {
    // (never seen) the ECDH object stays, for the slower path
  } finally {
    der.fill(0)
  }
  return pair
}

/**
 * The next pair for `generateAhead`, made in the thread pool right after the last one was taken: in seed's
 * lock-step a generation (0.8 ms here) then leaves the path every message waits on. Process-wide; at most one.
 */
let ahead: EcdhKeyPair | undefined
let making = false
const makeAhead = () => {
  if (ahead !== undefined || making) return
  making = true
  crypto.generateKeyPair("ec", { namedCurve: CURVE }, (error, publicKey, privateKey) => {
    making = false
    // read here, while the job is alive (generateNow says why that matters)
    if (error === null && ahead === undefined) ahead = pairOfKeyObjects(publicKey, privateKey)
  })
}

/**
 * Whether a peer's point is in an encoding that @noble/curves and Python's `cryptography` read too: uncompressed
 * (04 ‖ X ‖ Y) or compressed (02/03 ‖ X). OpenSSL also takes the hybrid form (06/07 ‖ X ‖ Y), which they refuse:
 * without this check a peer's key in that form was taken here and refused by the noble back end.
 */
const isSec1Point = (point: Uint8Array): boolean =>
  point.length === PUBLIC_KEY_BYTES ? point[0] === 4 : point.length === COMPRESSED_POINT_BYTES && (point[0] === 2 || point[0] === 3)

/** P-384 ECDH from OpenSSL through node:crypto: about 4x faster than pure JS here. */
export const ecdh: Ecdh = {
  generate: generateNow,
  generateAhead: () => {
    const pair = ahead ?? generateNow()
    ahead = undefined
    makeAhead()
    return pair
  },
  fromPrivate: (privateKey) => {
    const e = crypto.createECDH(CURVE)
    e.setPrivateKey(privateKey)
    return pairOfEcdh(e)
  },
  sharedSecret: (privateKey, peerPublicKey) => {
    if (!isSec1Point(peerPublicKey)) return undefined
    try {
      const own = objects.get(privateKey)
      // an uncompressed point (97 bytes, so 04 ‖ X ‖ Y after the check above; the only form our protocols send)
      // through the faster key-object path
      if (own instanceof crypto.KeyObject && peerPublicKey.length === PUBLIC_KEY_BYTES)
        return sharedSecretOfObjects(own, peerPublicKey)
      let e = own instanceof crypto.KeyObject ? undefined : own
      if (e === undefined) {
        e = crypto.createECDH(CURVE)
        e.setPrivateKey(privateKey)
      }
      // OpenSSL checks that the point is on the curve and rejects the point at infinity
      return new Uint8Array(e.computeSecret(peerPublicKey))
    } catch {
      return undefined
    }
  }
}

export const layer: Layer.Layer<KeyAgreement> = Layer.succeed(KeyAgreement, ecdh)
