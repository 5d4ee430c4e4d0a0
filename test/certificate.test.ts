import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import pki from "node-forge/lib/x509.js"
import * as ForgeCertificate from "../src/layers/ForgeCertificate.js"

const DAY_MS = 24 * 3600 * 1000

describe("the certificate a listener makes for itself", () => {
  it.effect("is what PROTOCOL.md says: self-signed RSA-2048, CN = the host name, valid 5 days, signed with SHA-256", () =>
    Effect.gen(function* () {
      const before = Date.now()
      const identity = yield* ForgeCertificate.generateIdentity("peer-host")
      const cert = new crypto.X509Certificate(identity.certPem)
      expect(cert.subject).toBe("CN=peer-host")
      expect(cert.issuer).toBe(cert.subject)
      expect(cert.publicKey.asymmetricKeyType).toBe("rsa")
      expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
      expect(cert.verify(cert.publicKey)).toBe(true)
      expect(cert.checkPrivateKey(crypto.createPrivateKey(identity.keyPem))).toBe(true)
      // X.509 times are whole seconds
      const from = Date.parse(cert.validFrom)
      const to = Date.parse(cert.validTo)
      expect(from).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000)
      expect(from).toBeLessThanOrEqual(Date.now())
      expect(to - from).toBe(5 * DAY_MS)
      expect(pki.certificateFromPem(identity.certPem).siginfo.algorithmOid).toBe(pki.oids.sha256WithRSAEncryption)
      // the serial's first byte is 01: a DER integer with its top bit set would be negative, which RFC 5280 forbids
      expect(cert.serialNumber).toMatch(/^01[0-9A-F]{30}$/)
      expect(identity.fingerprint).toBe(cert.fingerprint256.replace(/:/g, "").toLowerCase())
    })
  )

  it.effect("each is new: another key, another serial", () =>
    Effect.gen(function* () {
      const [a, b] = yield* Effect.all([ForgeCertificate.generateIdentity("x"), ForgeCertificate.generateIdentity("x")])
      expect(a.fingerprint).not.toBe(b.fingerprint)
      expect(new crypto.X509Certificate(a.certPem).serialNumber).not.toBe(new crypto.X509Certificate(b.certPem).serialNumber)
      expect(a.keyPem).not.toBe(b.keyPem)
    })
  )

  it.effect("a host name longer than a CN may be (64 characters) is cut; an empty one becomes p2pchat", () =>
    Effect.gen(function* () {
      const long = yield* ForgeCertificate.generateIdentity("h".repeat(100))
      expect(new crypto.X509Certificate(long.certPem).subject).toBe(`CN=${"h".repeat(64)}`)
      const empty = yield* ForgeCertificate.generateIdentity("")
      expect(new crypto.X509Certificate(empty.certPem).subject).toBe("CN=p2pchat")
    })
  )
})
