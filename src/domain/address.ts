import { Either, Schema } from "effect"
import { isIP } from "node:net"
import { quoteInput, showGiven, showInput } from "./text.js"

/** The port each side listens on (-p) and names the other at (-r) unless told otherwise, as in chat.py. */
export const DEFAULT_PORT = 8000

/** A TCP port: 1-65535. (-p also takes 0, meaning "any free port", which tests rely on.) */
export const Port = Schema.Int.pipe(Schema.between(1, 65535), Schema.brand("Port"))
export type Port = typeof Port.Type

export interface Endpoint {
  readonly host: string
  readonly port: number
}

/**
 * An IPv4 peer of a listener on an IPv6 wildcard (`-i ::`) as a person knows it: node gives its address mapped
 * into IPv6, and it read "Connected from [::ffff:192.168.1.5]:40112".
 */
export const unmappedAddress = (host: string): string => /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host)?.[1] ?? host

export const formatEndpoint = ({ host, port }: Endpoint): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)

/** An endpoint and the addresses its name led to, where known: "localhost:9201 (::1, 127.0.0.1)". */
export const formatEndpointVia = (endpoint: Endpoint, addresses: ReadonlyArray<string> = []): string =>
  formatEndpoint(endpoint) + (addresses.length === 0 ? "" : ` (${addresses.join(", ")})`)

// RFC 1123 host names; anything else is refused before it reaches the resolver
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/

// digits and dots only is an IPv4 address or nothing (no top-level domain is all digits): 999.1.1.1 was taken
// for a host name, and failed late, as a name that does not resolve or an address not on this machine
export const isValidHost = (host: string): boolean => isIP(host) !== 0 || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host))

/** A listen address that stands for every address of this host. */
export const isWildcard = (ip: string): boolean => ip === "0.0.0.0" || ip === "::"

/** An IPv6 link-local address (fe80::/10): usable only with the interface it is on, named after a `%`. */
export const isLinkLocal = (host: string): boolean => /^fe[89ab][0-9a-f]:/i.test(host) && isIP(host) === 6

/**
 * Parses what a user types as a target: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
 * Returns a sentence on failure.
 */
export const parseTarget = (input: string, defaultPort: number): Either.Either<Endpoint, string> => {
  const text = input.trim()
  if (text.length === 0) return Either.left("The target address is empty; give it as ip[:port].")
  // what a browser's address bar would take: said as such rather than as a host "http" with port "//..."
  const url = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(text)
  if (url !== null)
    return Either.left(`${quoteInput(text)} is a URL; give the peer's address alone, as ip[:port]${url[1] ? ` (${showInput(url[1])})` : ""}.`)
  let host: string
  let portText: string | undefined
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text)
  if (bracketed) {
    host = bracketed[1]!
    portText = bracketed[2]
    if (isIP(host) !== 6) return Either.left(`${quoteInput(host)} in brackets is not an IPv6 address.`)
  } else if (isIP(text) === 6) {
    host = text
  } else {
    const parts = text.split(":")
    if (parts.length > 2) return Either.left(`${quoteInput(text)} is not an address: write IPv6 addresses with a port as [addr]:port.`)
    host = parts[0]!
    portText = parts[1]
    if (host === "") return Either.left(`${quoteInput(text)} names no host; give it as ip[:port].`)
  }
  if (!isValidHost(host)) return Either.left(`${quoteInput(host)} is neither an IP address nor a host name.`)
  // connecting to "every address" reaches this machine (Linux), or fails elsewhere: never a peer
  if (isWildcard(host)) return Either.left(`${host} stands for every address of a machine (for -i), not for a peer; give the peer's address.`)
  // without its interface, connecting failed with node's "connect EINVAL fe80::1:8000 - Local (:::0)"
  if (isLinkLocal(host) && !host.includes("%"))
    return Either.left(
      `${host} is a link-local address, reached only through the interface it is on: name it after a %, as [${host}%eth0]:${portText ?? defaultPort}.`
    )
  if (portText === undefined) return Either.right({ host, port: defaultPort })
  const port = parsePort(portText)
  return port === undefined
    ? Either.left(`${quoteInput(portText)} is not a port: give a whole number from 1 to 65535.`)
    : Either.right({ host, port })
}

const isPort = Schema.is(Port)

/** A port to connect to (1-65535), or when `listening` one to listen on (0 too: any free port). */
export const fitsPort = (port: unknown, listening: boolean): boolean => isPort(port) || (listening && port === 0)

/**
 * Why `endpoint` cannot be listened on (`listening`: port 0 allowed, "any free port") or connected to; undefined
 * when it can. Said by name (`what`), for a caller who built it by hand.
 */
export const endpointProblem = (what: string, endpoint: Endpoint, listening: boolean): string | undefined => {
  if (typeof endpoint.host !== "string") return `${what}.host must be a string, not ${showInput(String(endpoint.host))}`
  const port: unknown = endpoint.port
  if (fitsPort(port, listening)) return undefined
  return `${what}.port ${showGiven(port)} is not a port: give a whole number from ${listening ? "0 (any free port)" : "1"} to 65535`
}

export const parsePort = (text: string): number | undefined => {
  const n = wholeNumber(text)
  return isPort(n) ? n : undefined
}

/**
 * A number written as people write a port or a mode: decimal digits only. JavaScript's Number also reads
 * "0x50", "8e1", "80.0" and "+80" as 80, so `-p 8e1` listened on port 80 without a word.
 */
export const wholeNumber = (text: string): number | undefined => (/^\d{1,9}$/.test(text) ? Number(text) : undefined)

/**
 * Orders endpoints for the auto-mode tie-break: port first (two machines often both use 8000), then the host
 * text. Both peers see the same pair with sides swapped, so they agree on who is "lower".
 */
export const compareEndpoints = (a: Endpoint, b: Endpoint): number => {
  if (a.port !== b.port) return a.port < b.port ? -1 : 1
  const ha = a.host.toLowerCase()
  const hb = b.host.toLowerCase()
  return ha < hb ? -1 : ha > hb ? 1 : 0
}
