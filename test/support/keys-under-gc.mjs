// Run by key-agreement.test.ts in its own process, with V8's young generation capped so that it collects
// garbage often: COUNT P-384 pairs made on the spot by the built library's node:crypto layer, one in 50 used for
// a shared secret. Prints "done" at the end; a process that froze prints nothing more.
import { ecdh } from "../../dist/lib/layers/NodeCryptoKeyAgreement.js"

const count = Number(process.argv[2])
const peer = ecdh.generate()
for (let i = 0; i < count; i++) {
  const own = ecdh.generate()
  if (i % 50 === 0 && ecdh.sharedSecret(own.privateKey, peer.publicKey) === undefined) throw new Error("no shared secret")
}
console.log("done")
