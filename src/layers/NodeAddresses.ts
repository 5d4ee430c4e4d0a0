import { Effect } from "effect"
import * as dgram from "node:dgram"
import * as dns from "node:dns/promises"
import { isIP } from "node:net"
import { type Endpoint, isLinkLocal, isWildcard } from "../domain/address.js"

/**
 * Where names and routes lead, as node's sockets see them: for the Transport (auto mode's ordering) and the
 * CLI's defaults. Every lookup is bounded: a name that does not answer is left to the connection to say.
 */
const LOOKUP_MS = 2_000

/**
 * The address this host reaches `target` from: the address of the interface its route goes out of (a UDP
 * socket's connect picks it; nothing is sent). That is where the peer can reach us back, and the address it
 * names us by when both are on one network. The first non-internal IPv4 address could be another network's
 * (a second card, a VPN, a container bridge), and for a peer on this machine (`-t 127.0.0.1:9002`) it was the
 * LAN's, which `-t 127.0.0.1` on the other side never reached: both sides retried for good. Undefined when
 * there is no route (or the name does not resolve in time).
 */
export const routeAddress = (target: Endpoint): Effect.Effect<string | undefined> =>
  Effect.async<string | undefined>((resume) => {
    const zone = /%.+$/.exec(target.host)?.[0] ?? ""
    const socket = dgram.createSocket(isIP(target.host) === 6 ? "udp6" : "udp4")
    let done = false
    const close = () => {
      try {
        socket.close()
      } catch {
        // already closed by its error
      }
    }
    const finish = (address: string | undefined) => {
      if (done) return
      done = true
      close()
      resume(Effect.succeed(address))
    }
    socket.once("error", () => finish(undefined))
    // called on an error too (a name that does not resolve), with it
    socket.connect(target.port, target.host, (error?: Error) => {
      if (error) return finish(undefined)
      try {
        const address = socket.address().address
        if (isWildcard(address)) return finish(undefined)
        // a link-local address is only usable with its interface, which the target's zone names
        finish(isLinkLocal(address) && !address.includes("%") ? (zone === "" ? undefined : address + zone) : address)
      } catch {
        finish(undefined)
      }
    })
    return Effect.sync(() => {
      if (!done) {
        done = true
        close()
      }
    })
  }).pipe(
    Effect.timeout(LOOKUP_MS),
    Effect.orElseSucceed(() => undefined)
  )


/** The addresses a target's name stands for (an address stands for itself); none if it does not resolve in time. */
export const addressesOf = (host: string): Effect.Effect<ReadonlyArray<string>> =>
  isIP(host) !== 0
    ? Effect.succeed([host])
    : Effect.tryPromise(() => dns.lookup(host, { all: true })).pipe(
        Effect.map((found) => found.map((a) => a.address)),
        Effect.timeout(LOOKUP_MS),
        Effect.orElseSucceed(() => [])
      )

/** The address a name resolves to first, as node's connect looks it up (an address stands for itself). */
export const firstAddress = (host: string): Effect.Effect<string | undefined> =>
  isIP(host.replace(/%.*$/, "")) !== 0
    ? Effect.succeed(host)
    : Effect.tryPromise(() => dns.lookup(host)).pipe(
        Effect.map((found) => found.address),
        Effect.timeout(LOOKUP_MS),
        Effect.orElseSucceed(() => undefined)
      )
