// Loaded into a p2pchat process with --import: counts the TLS contexts made without a `ca` of their own, each of
// which trusts node's bundled root certificates (the first makes node parse all ~140 of them), and says how
// many on stderr when it exits.
import { syncBuiltinESMExports } from "node:module"
import tls from "node:tls"

let trusting = 0
const createSecureContext = tls.createSecureContext
tls.createSecureContext = (options, ...rest) => {
  if (options?.ca === undefined) trusting++
  return createSecureContext(options, ...rest)
}
// the bundle imports node:tls as an ES module: its bindings follow the patched export only after this (node's
// own tls.createServer calls the patched export through the module object)
syncBuiltinESMExports()
process.on("exit", () => process.stderr.write(`TLS contexts trusting node's roots: ${trusting}\n`))
