import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Endpoint } from "../src/domain/address.js"
import type { Role } from "../src/domain/session.js"
import * as MemoryTransport from "../src/layers/MemoryTransport.js"
import { establish } from "../src/services/Connection.js"
import { type Conn, Transport } from "../src/services/Transport.js"

/** The in-memory network, where hosts also go by names (as mDNS gives them on a LAN). */
const withNames = (network: Transport["Type"], names: Record<string, string>): Transport["Type"] => ({
  connect: (to, options) => network.connect({ host: names[to.host] ?? to.host, port: to.port }, options),
  listen: network.listen,
  resolve: (host) => Effect.succeed(names[host] ?? host)
})

/** One byte each way, the listener first (as p2pchat's handshakes go): both ends hold the same connection. */
const handshake = (conn: Conn, role: Role) =>
  role === "listener"
    ? Effect.zipRight(conn.write(Uint8Array.of(1)), conn.read)
    : Effect.zipRight(conn.read, conn.write(Uint8Array.of(2))).pipe(Effect.as(Uint8Array.of(2)))

const side = (network: Transport["Type"], local: Endpoint, target: Endpoint) =>
  establish({
    mode: "auto",
    local,
    target,
    connectFor: "1 second",
    handshakeTimeout: "1 second",
    handshake,
    emit: () => Effect.void,
    describe: () => "turned away"
  }).pipe(
    Effect.map(({ role }) => role),
    Effect.scoped,
    Effect.provideService(Transport, network)
  )

describe("auto mode", () => {
  for (const [order, delayA, delayB] of [
    ["together", 0, 0],
    ["A first", 0, 600],
    ["B first", 600, 0]
  ] as const)
    it.live(`two sides naming each other by name, both ports the same, meet on one connection: ${order}`, () =>
      Effect.gen(function* () {
        // each knew itself by its address and the other by its name: both took themselves for the lower side
        // (digits sort before letters), both kept their own connection, and neither served the other's
        const network = withNames(yield* MemoryTransport.make, { "alice.local": "10.0.0.1", "bob.local": "10.0.0.2" })
        const roles = yield* Effect.all(
          [
            Effect.delay(side(network, { host: "10.0.0.1", port: 8000 }, { host: "bob.local", port: 8000 }), delayA),
            Effect.delay(side(network, { host: "10.0.0.2", port: 8000 }, { host: "alice.local", port: 8000 }), delayB)
          ],
          { concurrency: 2 }
        )
        expect(new Set(roles)).toEqual(new Set(["connector", "listener"]))
      })
    )
})
