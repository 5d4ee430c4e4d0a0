// Loaded into a p2pchat process with --import: counts the key pairs it generates (the TLS certificate's RSA
// key) and says how many on stderr when it exits.
import crypto from "node:crypto"
import { syncBuiltinESMExports } from "node:module"

let calls = 0
const generateKeyPair = crypto.generateKeyPair
crypto.generateKeyPair = (...args) => {
  calls++
  return generateKeyPair(...args)
}
// the bundle imports node:crypto as an ES module: its bindings follow the patched export only after this
syncBuiltinESMExports()
process.on("exit", () => process.stderr.write(`key pairs generated: ${calls}\n`))
