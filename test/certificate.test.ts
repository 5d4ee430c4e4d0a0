import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import pki from "node-forge/lib/x509.js"
import * as ForgeCertificate from "../src/layers/ForgeCertificate.js"
import { Certificate } from "../src/services/Certificate.js"
import { scratchFiles } from "./support/files.js"

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

describe("the key and certificate files given as -k and -c", () => {
  const MIB = 1024 * 1024
  const { file } = scratchFiles("p2pchat-pem-")
  const load = (key: string, cert: string) => Effect.flip(ForgeCertificate.loadIdentity(key, cert))

  it.effect("are read up to 1 MiB each, that included; a byte more is refused before the PEM is looked at", () =>
    Effect.gen(function* () {
      const identity = yield* ForgeCertificate.generateIdentity("peer-host")
      // what follows a PEM's end line is not read by its parser: padding to the limit keeps the key a key
      const padded = (pem: string, bytes: number) => pem + "\n".repeat(bytes - pem.length)
      const cert = file("cert.pem", identity.certPem)
      const loaded = yield* ForgeCertificate.loadIdentity(file("full.pem", padded(identity.keyPem, MIB)), cert)
      expect(loaded.fingerprint).toBe(identity.fingerprint)
      const over = yield* load(file("over.pem", padded(identity.keyPem, MIB + 1)), cert)
      expect(over).toMatchObject({ reason: "Read", detail: "over 1 MiB, which no PEM key or certificate is" })
      const overCert = yield* load(file("key.pem", identity.keyPem), file("over.crt", padded(identity.certPem, MIB + 1)))
      expect(overCert).toMatchObject({ reason: "Read", path: expect.stringMatching(/over\.crt$/) })
    })
  )

  it.effect("a key under a passphrase is said as such, in PKCS#8 and in OpenSSL's traditional form (Proc-Type)", () =>
    Effect.gen(function* () {
      const identity = yield* ForgeCertificate.generateIdentity("peer-host")
      const key = crypto.createPrivateKey(identity.keyPem)
      const cert = file("cert.pem", identity.certPem)
      const locked = { cipher: "aes-256-cbc", passphrase: "secret", format: "pem" } as const
      for (const [name, type] of [["locked8.pem", "pkcs8"], ["locked1.pem", "pkcs1"]] as const) {
        const pem = key.export({ ...locked, type }) as string
        const refused = yield* load(file(name, pem), cert)
        expect([type, refused]).toMatchObject([type, { reason: "NotAKey", detail: expect.stringMatching(/^an encrypted private key, and p2pchat does not ask for passphrases/) }])
      }
    })
  )

  it.effect("a certificate given as the key (a TRUSTED one too), or a key in any PEM form given as the certificate, is said to be swapped", () =>
    Effect.gen(function* () {
      const identity = yield* ForgeCertificate.generateIdentity("peer-host")
      const rsa = crypto.createPrivateKey(identity.keyPem)
      // OpenSSL's certificate with trust settings (`openssl x509 -trustout`) has its own PEM label
      const trusted = identity.certPem.replace(/(BEGIN|END) CERTIFICATE/g, "$1 TRUSTED CERTIFICATE")
      for (const [name, pem] of [["cert.pem", identity.certPem], ["trusted.pem", trusted]]) {
        const refused = yield* load(file(name, pem), file("cert.pem", identity.certPem))
        expect([name, refused]).toMatchObject([name, { reason: "NotAKey", detail: "a certificate, not a private key (are -k and -c swapped?)" }])
      }
      const keys = {
        pkcs8: identity.keyPem,
        pkcs1: rsa.export({ type: "pkcs1", format: "pem" }) as string,
        sec1: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "sec1", format: "pem" }) as string
      }
      for (const [form, pem] of Object.entries(keys)) {
        const refused = yield* load(file("key.pem", identity.keyPem), file(`${form}.pem`, pem))
        expect([form, refused]).toMatchObject([form, { reason: "NotACertificate", detail: "a private key, not a certificate (are -k and -c swapped?)" }])
      }
    })
  )

  it.effect("a file with a key and a certificate in it, the one asked for broken, is not said to be swapped", () =>
    Effect.gen(function* () {
      // one file given as both -k and -c is a usual way to keep the two; swapping them would change nothing
      const identity = yield* ForgeCertificate.generateIdentity("peer-host")
      // its first line of base64 made unreadable (forge's PEM has CRLF line ends)
      const broken = (pem: string) => pem.replace(/(-----\r?\n)[A-Za-z0-9+/]{64}/, "$1" + "!".repeat(64))
      const key = file("key.pem", identity.keyPem)
      const cert = file("cert.pem", identity.certPem)
      const brokenCert = yield* load(key, file("both1.pem", identity.keyPem + broken(identity.certPem)))
      expect(brokenCert).toMatchObject({ reason: "NotACertificate", detail: "not a PEM certificate" })
      const brokenKey = yield* load(file("both2.pem", identity.certPem + broken(identity.keyPem)), cert)
      expect(brokenKey).toMatchObject({ reason: "NotAKey", detail: "not a PEM private key" })
    })
  )
})

describe("the generated certificate's layer", () => {
  it.effect("makes it once, on first use: every listen of a program gets the same one", () =>
    Effect.gen(function* () {
      const certificate = yield* Certificate
      const first = yield* certificate.identity
      const again = yield* certificate.identity
      expect(again.fingerprint).toBe(first.fingerprint)
      expect(again.keyPem).toBe(first.keyPem)
    }).pipe(Effect.provide(ForgeCertificate.layerGenerated))
  )
})
