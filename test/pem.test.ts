import { describe, expect, it } from "vitest"
import { pemFromPoint, pointFromPem } from "../src/domain/pem.js"
import * as NodeCryptoKeyAgreement from "../src/layers/NodeCryptoKeyAgreement.js"

// A peer's key in seed's handshake: P-384 SubjectPublicKeyInfo in PEM, as Python's `cryptography` writes it
const point = NodeCryptoKeyAgreement.ecdh.generate().publicKey
const pem = pemFromPoint(point)
const lines = pem.trimEnd().split("\n")
const body = lines.slice(1, -1).join("")
const withBody = (text: string) => `${lines[0]}\n${text}\n${lines.at(-1)}\n`

describe("a peer's public key in PEM", () => {
  it("is written as Python's cryptography writes it: 64-character lines, 215 bytes, and read back", () => {
    expect(pem).toHaveLength(215)
    expect(lines.map((l) => l.length)).toEqual([26, 64, 64, 32, 24])
    expect(pointFromPem(pem)).toEqual(point)
  })

  it("is read with CRLF line endings, other line lengths, and blank lines after the end", () => {
    expect(pointFromPem(pem.replace(/\n/g, "\r\n"))).toEqual(point)
    expect(pointFromPem(withBody(body))).toEqual(point)
    expect(pointFromPem(withBody(body.match(/.{1,76}/g)!.join("\n")))).toEqual(point)
    expect(pointFromPem(`${pem}\n\n`)).toEqual(point)
    expect(pointFromPem(pem + "\n".repeat(1024 - pem.length))).toEqual(point)
  })

  const refused: Array<[string, string]> = [
    ["no header", pem.replace("-----BEGIN PUBLIC KEY-----\n", "")],
    ["another header", pem.replace("BEGIN PUBLIC KEY", "BEGIN EC PUBLIC KEY")],
    ["no footer", pem.replace("-----END PUBLIC KEY-----\n", "")],
    ["another footer", pem.replace("END PUBLIC KEY", "END CERTIFICATE")],
    ["text before the header", `key:\n${pem}`],
    ["a header and a footer only", withBody("").replace("\n\n", "\n")],
    // node's decoder skips what is not base64: each of these decodes to the key itself
    ["a character that is not base64", withBody(`${body.slice(0, 10)}!${body.slice(10)}`)],
    ["a space in a line", withBody(`${body.slice(0, 10)} ${body.slice(10)}`)],
    ["a blank line inside", withBody(`${body.slice(0, 64)}\n\n${body.slice(64)}`)],
    // and stops at the first "=": lines after it were ignored, and the key taken
    ["lines after padding", withBody(`${body}\nA==\nQUJD\nREVG`)],
    ["base64 one byte short", withBody(body.slice(0, -4) + Buffer.from(Buffer.from(body.slice(-4), "base64").subarray(0, 2)).toString("base64"))],
    // the curve named as secp521r1 (1.3.132.0.35, not .34), the point as it was
    ["another curve's key", (() => {
      const der = Buffer.from(body, "base64")
      der[19] = 35
      return withBody(der.toString("base64"))
    })()],
    ["a compressed point", (() => {
      const der = Buffer.from(body, "base64")
      der[23] = 0x02
      return withBody(der.toString("base64"))
    })()],
    // blank lines after the end are allowed, but not past 1 KiB in all
    ["over 1 KiB", pem + "\n".repeat(1025 - pem.length)]
  ]
  for (const [what, text] of refused)
    it(`is refused: ${what}`, () => {
      expect(pointFromPem(text)).toBeUndefined()
    })
})
