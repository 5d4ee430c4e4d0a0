import { Layer } from "effect"
import * as NodeCryptoCipher from "../../src/layers/NodeCryptoCipher.js"
import * as NodeCryptoKeyAgreement from "../../src/layers/NodeCryptoKeyAgreement.js"
import * as NodeCryptoKeySchedule from "../../src/layers/NodeCryptoKeySchedule.js"
import * as SeedProtocol from "../../src/layers/SeedProtocol.js"

export const crypto = Layer.mergeAll(NodeCryptoCipher.layer, NodeCryptoKeySchedule.layer, NodeCryptoKeyAgreement.layer)
export const seed = SeedProtocol.layer.pipe(Layer.provide(crypto))
import * as V2Protocol from "../../src/layers/V2Protocol.js"
export const v2 = V2Protocol.layer.pipe(Layer.provide(crypto))
