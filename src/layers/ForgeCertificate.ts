import { Effect, Layer } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
// forge's certificate module and what it needs, not its index, which loads all of forge (TLS, PKCS#7/#12, SSH,
// ed25519 ...): the bundles carry 150 KB less
import asn1 from "node-forge/lib/asn1.js"
import pki from "node-forge/lib/x509.js"
import { CertificateError } from "../domain/errors.js"
import { Certificate, type TlsIdentity } from "../services/Certificate.js"
import { generateRsaKeyPair, type RsaPemPair } from "./RsaKeyPair.js"

const VALID_DAYS = 5

const fingerprintOf = (certPem: string): string => new crypto.X509Certificate(certPem).fingerprint256.replace(/:/g, "").toLowerCase()

/**
 * Self-signed RSA-2048 certificate, CN = host name, valid 5 days, SHA-256 signature (PROTOCOL.md).
 * The key is generated natively in the thread pool (about 150 ms; forge's pure-JS keygen takes seconds) and
 * forge only builds and signs the certificate.
 */
export const generateIdentity = (
  commonName: string = os.hostname(),
  /** A key pair whose generation was started earlier (the CLI starts it before loading). */
  started?: Promise<RsaPemPair>
): Effect.Effect<TlsIdentity, CertificateError> =>
  Effect.gen(function* () {
    const { privateKey, publicKey } = yield* Effect.tryPromise({
      try: () => started ?? generateRsaKeyPair(),
      catch: (e) => new CertificateError({ reason: "Generate", path: "(generated)", detail: String(e) })
    })
    return yield* Effect.try({
      try: () => {
        const cert = pki.createCertificate()
        cert.publicKey = pki.publicKeyFromPem(publicKey)
        cert.serialNumber = "01" + crypto.randomBytes(15).toString("hex")
        const now = new Date()
        cert.validity.notBefore = now
        cert.validity.notAfter = new Date(now.getTime() + VALID_DAYS * 24 * 3600 * 1000)
        const attrs = [{ name: "commonName", value: commonName.slice(0, 64) || "p2pchat" }]
        cert.setSubject(attrs)
        cert.setIssuer(attrs)
        // forge builds the to-be-signed structure; the RSA signature itself is made natively (forge's pure-JS
        // signing costs 30-70 ms of start-up)
        cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!
        cert.signatureOid = pki.oids.sha256WithRSAEncryption!
        cert.tbsCertificate = pki.getTBSCertificate(cert)
        const tbs = Buffer.from(asn1.toDer(cert.tbsCertificate).getBytes(), "binary")
        cert.signature = crypto.sign("sha256", tbs, privateKey).toString("binary")
        const certPem = pki.certificateToPem(cert)
        if (!new crypto.X509Certificate(certPem).verify(crypto.createPublicKey(publicKey)))
          throw new Error("the generated certificate does not verify")
        return { keyPem: privateKey, certPem, fingerprint: fingerprintOf(certPem) }
      },
      catch: (e) => new CertificateError({ reason: "Generate", path: "(generated)", detail: String(e) })
    })
  })

/** Larger than any PEM key or certificate (a chain of ten is about 20 KB): what `-k`/`-c` may make us read. */
const MAX_PEM_BYTES = 1024 * 1024

class TooLarge extends Error {}
class NotAFile extends Error {}

/**
 * A PEM file's text, read no further than MAX_PEM_BYTES: `-k /dev/zero` read until V8's string limit, half
 * a gigabyte, before it failed.
 */
const readText = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = await fs.open(path, "r")
      try {
        if ((await file.stat()).isDirectory()) throw new NotAFile()
        const buffer = Buffer.alloc(MAX_PEM_BYTES + 1)
        let length = 0
        for (;;) {
          const { bytesRead } = await file.read(buffer, length, buffer.length - length, null)
          if (bytesRead === 0) break
          length += bytesRead
          if (length > MAX_PEM_BYTES) throw new TooLarge()
        }
        return buffer.toString("utf8", 0, length)
      } finally {
        await file.close()
      }
    },
    catch: (e) =>
      new CertificateError({
        reason: "Read",
        path,
        detail:
          e instanceof TooLarge
            ? `over ${MAX_PEM_BYTES / 1024 / 1024} MiB, which no PEM key or certificate is`
            : e instanceof NotAFile
              ? "a directory, not a PEM file"
              : (e as NodeJS.ErrnoException).code === "ENOENT"
                ? "no such file"
                : `cannot be read (${(e as Error).message})`
      })
  })

const CERTIFICATE_PEM = /-----BEGIN (TRUSTED )?CERTIFICATE-----/
const KEY_PEM = /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/

/** What a file given as -k holds instead of a private key that can be used, as far as its PEM says. */
const whyNotAKey = (pem: string, path: string): string =>
  /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)
    ? `an encrypted private key, and p2pchat does not ask for passphrases (openssl pkey -in ${path} -out key.pem makes an unencrypted copy)`
    : CERTIFICATE_PEM.test(pem) && !KEY_PEM.test(pem)
      ? "a certificate, not a private key (are -k and -c swapped?)"
      : "not a PEM private key"

const whyNotACertificate = (pem: string): string =>
  KEY_PEM.test(pem) && !CERTIFICATE_PEM.test(pem) ? "a private key, not a certificate (are -k and -c swapped?)" : "not a PEM certificate"

/** Loads `-k KEY -c CERT` and checks that they are PEM, and that the certificate belongs to the key. */
export const loadIdentity = (keyPath: string, certPath: string): Effect.Effect<TlsIdentity, CertificateError> =>
  Effect.gen(function* () {
    const keyPem = yield* readText(keyPath)
    const certPem = yield* readText(certPath)
    const key = yield* Effect.try({
      try: () => crypto.createPrivateKey(keyPem),
      catch: () => new CertificateError({ reason: "NotAKey", path: keyPath, detail: whyNotAKey(keyPem, keyPath) })
    })
    const cert = yield* Effect.try({
      try: () => new crypto.X509Certificate(certPem),
      catch: () => new CertificateError({ reason: "NotACertificate", path: certPath, detail: whyNotACertificate(certPem) })
    })
    if (!cert.checkPrivateKey(key))
      return yield* new CertificateError({
        reason: "Mismatch",
        path: certPath,
        detail: `the certificate does not match the key in ${keyPath}`
      })
    return { keyPem, certPem, fingerprint: fingerprintOf(certPem) }
  })

/** A certificate generated once, on first use (a client that never listens never pays for it). */
export const layerGenerated: Layer.Layer<Certificate> = Layer.effect(
  Certificate,
  Effect.map(Effect.cached(generateIdentity()), (identity) => ({ identity }))
)

/** Starts key generation at once (it runs in the thread pool while the rest of start-up goes on). */
export const layerGeneratedEager = (
  started?: Promise<RsaPemPair>
): Layer.Layer<Certificate> => Layer.scoped(
  Certificate,
  Effect.gen(function* () {
    const fiber = yield* Effect.forkScoped(generateIdentity(os.hostname(), started))
    const identity = yield* Effect.cached(fiber.await.pipe(Effect.flatten))
    return { identity }
  })
)

export const layerFiles = (keyPath: string, certPath: string): Layer.Layer<Certificate, CertificateError> =>
  Layer.effect(
    Certificate,
    Effect.map(loadIdentity(keyPath, certPath), (identity) => ({ identity: Effect.succeed(identity) }))
  )
