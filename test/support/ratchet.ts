import * as Ratchet from "../../src/layers/DoubleRatchet.js"
import { node } from "./sessions.js"

/** Both initial Double Ratchet states, as a v2 handshake leaves them (from a random root key and first chain). */
export const ratchetPair = () => {
  const rk = node.random(32)
  const ck0 = node.random(32)
  const listenerKey = node.ecdh.generate()
  const listener = Ratchet.initListener(rk.slice(), ck0.slice(), listenerKey)
  const connector = Ratchet.initConnector(rk.slice(), ck0.slice(), listenerKey.publicKey)
  return { listener, connector }
}
