// Loaded into a p2pchat process with --import: counts the key pairs it generates (the TLS certificate's RSA
// key) and says how many on stderr when it exits, and whether the first was started before the CLI's bundle
// was compiled (by the launcher, so that its prime search overlaps the compiling).
import crypto from "node:crypto"
import { syncBuiltinESMExports } from "node:module"
import vm from "node:vm"

let calls = 0
let bundleCompiled = false
let firstBeforeBundle
const generateKeyPair = crypto.generateKeyPair
crypto.generateKeyPair = (...args) => {
  calls++
  firstBeforeBundle ??= !bundleCompiled
  return generateKeyPair(...args)
}
const Script = vm.Script
vm.Script = class extends Script {
  constructor(source, options) {
    super(source, options)
    if (String(options?.filename).endsWith("p2pchat.cjs")) bundleCompiled = true
  }
}
// the bundle imports node:crypto and node:vm as ES modules: their bindings follow the patched exports only
// after this
syncBuiltinESMExports()
process.on("exit", () => {
  process.stderr.write(`key pairs generated: ${calls}\n`)
  if (firstBeforeBundle !== undefined) process.stderr.write(`first started before the bundle was compiled: ${firstBeforeBundle}\n`)
})
