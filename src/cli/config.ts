import { Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import { isIP } from "node:net"
import * as os from "node:os"
import { DEFAULT_PORT, type Endpoint, fitsPort, formatEndpoint, isLinkLocal, isValidHost, isWildcard, parseTarget, wholeNumber } from "../domain/address.js"
import { addressesOf, routeAddress } from "../layers/NodeAddresses.js"
import { decimalNumber } from "../domain/duration.js"
import { UsageError } from "../domain/errors.js"
import { showInput, showValue } from "../domain/text.js"
import { MIN_HEARTBEAT_MS, type ProtocolName } from "../domain/session.js"
import type { Mode } from "../services/Connection.js"
import { DEFAULT_HEARTBEAT_SECONDS, DEFAULT_WAIT_SECONDS } from "./flags.js"

/** The raw flags as @effect/cli parsed them (types only, no meaning yet). */
export interface RawFlags {
  readonly ip: Option.Option<string>
  /** Ports and the mode as typed: see `wholeNumber`. */
  readonly port: string
  readonly target: Option.Option<string>
  readonly remote: string
  readonly mode: string
  readonly key: Option.Option<string>
  readonly cert: Option.Option<string>
  readonly protocol: string
  readonly json: boolean
  /** Seconds as typed: see `decimalNumber`. */
  readonly wait: string
  readonly handshakeTimeout: string
  readonly heartbeat: string
  readonly stay: boolean
}

/** Validated settings: everything a run needs, checked before any network activity. */
export interface Config {
  readonly listen: Endpoint
  /** Undefined only in server mode. */
  readonly target: Endpoint | undefined
  readonly mode: Mode
  readonly tls: { readonly key: string; readonly cert: string } | undefined
  readonly protocol: ProtocolName
  readonly json: boolean
  readonly waitSeconds: number
  readonly handshakeTimeoutSeconds: number
  readonly heartbeatSeconds: number
  /** The end of piped input does not leave: the chat lasts until the peer leaves, `/quit` or a signal. */
  readonly stay: boolean
  /**
   * Flags given that the mode does not use, as typed (`unusedHint`): in server mode, which only listens, -t, -r
   * and --wait; in auto mode, which tries on until a chat starts, --wait; in client mode, which only connects,
   * -i, -p and -k/-c.
   */
  readonly unusedInMode?: ReadonlyArray<string> | undefined
  /** An -r given where the target names another port, which is the one used (`unusedHint`). */
  readonly unusedRemote?: number | undefined
  /** A --heartbeat given with the seed protocol, whose wire has none, as typed (`unusedHint`). */
  readonly unusedHeartbeat?: string | undefined
  /**
   * What the peer runs to reach this side, where the question for the target had said a command naming other
   * addresses than the one this side then listens on, where it reaches the target from (`listenHint`): a
   * target on loopback.
   */
  readonly peerCommandAgain?: string | undefined
}

/**
 * This host's first non-internal IPv4 address (what chat.py's gethostbyname(hostname) usually gives): the
 * default -i when there is no target to face. On a host without one, its first IPv6 address that is neither
 * internal nor link-local (it listened on 127.0.0.1, where no peer can reach it); else 127.0.0.1.
 */
export const defaultIp = (
  interfaces: NodeJS.Dict<ReadonlyArray<{ readonly address: string; readonly family: string; readonly internal: boolean }>> = os.networkInterfaces()
): string => {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((a) => !a.internal)
  return (all.find((a) => a.family === "IPv4") ?? all.find((a) => a.family === "IPv6" && !isLinkLocal(a.address)))?.address ?? "127.0.0.1"
}

const usage = (detail: string) => new UsageError({ detail })

/** Addresses of this host that the hint for the peer's command lists at most. */
const MAX_HINTED = 3

type Interfaces = NodeJS.Dict<ReadonlyArray<{ readonly address: string; readonly family: string; readonly internal: boolean }>>

/** The addresses the peer's command names (peerCommand): -i's, or this host's that a peer may reach. */
const hintedHosts = (ip: string | undefined, interfaces: Interfaces): ReadonlyArray<string> => {
  if (ip !== undefined && !isWildcard(ip)) return [ip]
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((a) => !a.internal && !isLinkLocal(a.address))
  // 0.0.0.0 takes IPv4 connections only; :: (or no -i) both
  const families = ip === "0.0.0.0" ? ["IPv4"] : ["IPv4", "IPv6"]
  return families.flatMap((family) => all.filter((a) => a.family === family)).map((a) => a.address).slice(0, MAX_HINTED)
}

/**
 * What a person asked for the peer's address is told first: the command that reaches this side from the other
 * machine. Each side names the other, and a person often does not know this machine's address; only the
 * other side's question was on the screen. With `ip` (-i, not a wildcard) that address; else this host's
 * addresses that are neither internal nor link-local, IPv4 first (IPv4 only for 0.0.0.0). Nothing for a port
 * not yet chosen (0) or a host with no such address. With the seed protocol, the command says so: without
 * `--protocol seed` the peer speaks v2, and the command shown ended in "the peer speaks the seed protocol".
 */
export const peerCommand = (
  ip: string | undefined,
  port: number,
  protocol: ProtocolName,
  interfaces: Interfaces = os.networkInterfaces()
): string | undefined => {
  if (port === 0) return undefined
  const hosts = hintedHosts(ip, interfaces)
  if (hosts.length === 0) return undefined
  // the peer's -r defaults to 8000: a bare address says it all then (a bare IPv6 address is a target too)
  const target = (host: string) => `-t ${port === DEFAULT_PORT ? host : formatEndpoint({ host, port })}`
  const [first, ...others] = hosts
  return `Your peer runs: p2pchat ${protocol === "seed" ? "--protocol seed " : ""}${target(first!)}${others.length === 0 ? "" : ` (or ${others.map(target).join(", or ")}, whichever reaches this machine)`}`
}

/**
 * `-i eth0`: a network interface's name stands for its address (IPv4 first), as many tools take it; it was
 * taken for a host name and failed as "that address does not belong to this machine".
 */
export const interfaceAddress = (
  ip: string,
  interfaces: NodeJS.Dict<ReadonlyArray<{ readonly address: string; readonly family: string }>> = os.networkInterfaces()
): string => {
  const addresses = interfaces[ip]
  if (addresses === undefined || addresses.length === 0) return withZone(ip, interfaces)
  const address = (addresses.find((a) => a.family === "IPv4") ?? addresses[0]!).address
  return isLinkLocal(address) ? `${address}%${ip}` : address
}

/**
 * Whether this machine has a network interface of that name: Linux lists every one under /sys/class/net, those
 * without an address too, which node's list leaves out. Elsewhere: no way to tell, so no.
 */
export const interfaceOnThisMachine = (name: string): boolean =>
  process.platform === "linux" && /^[^/\s]+$/.test(name) && name !== "." && name !== ".." && fs.existsSync(`/sys/class/net/${name}`)

/**
 * A link-local address of this host with its interface (`-i fe80::1` listens as fe80::1%eth0): without one,
 * listening failed with node's "listen EINVAL: invalid argument fe80::1:8000". Others are left as they are.
 */
export const withZone = (ip: string, interfaces: NodeJS.Dict<ReadonlyArray<{ readonly address: string }>> = os.networkInterfaces()): string => {
  if (!isLinkLocal(ip) || ip.includes("%")) return ip
  for (const [name, list] of Object.entries(interfaces))
    if (list?.some((a) => a.address.toLowerCase() === ip.toLowerCase())) return `${ip}%${name}`
  return ip
}

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."))

/**
 * Whether a listener on `ip` answers at `address`: `ip` itself, or for 0.0.0.0 and :: every address of this
 * host, all of 127.0.0.0/8 among them (`-i 0.0.0.0 -t 127.0.0.2` reached itself, and was told that no
 * p2pchat answered).
 */
const answersAt = (ip: string, address: string): boolean => {
  if (!isWildcard(ip)) return address === ip
  // a name may stand for a wildcard (hosts files that block a name map it to 0.0.0.0): connecting there is local too
  if (isLoopback(address) || isWildcard(address)) return true
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === address))
}

/** The sentences for a port or a mode that is none, here and where a value is not even a number (argv.ts). */
export const notAPort = (flag: string, value: string, min: 0 | 1) =>
  `${flag} ${showValue(value)} is not a port: give a whole number from ${min} to 65535.`
export const notSeconds = (flag: string, value: string) => `${flag} ${showValue(value)} is not a number of seconds.`
export const notAMode = (flag: string, value: string) => `${flag} ${showValue(value)} is not a mode: use 0 (auto), 1 (client) or 2 (server).`

const checkPort = (flag: string, text: string, allowZero: boolean) => {
  const value = wholeNumber(text)
  return value !== undefined && fitsPort(value, allowZero)
    ? Effect.succeed(value)
    : Effect.fail(usage(notAPort(flag, text, allowZero ? 0 : 1)))
}

const MODES: Record<number, Mode> = { 0: "auto", 1: "client", 2: "server" }

const MIN_HEARTBEAT_SECONDS = MIN_HEARTBEAT_MS / 1000

/**
 * Turns flags into a Config or one clear sentence. `askTarget` is called only when a target is needed and
 * missing (an interactive terminal asks for it; otherwise it is a usage error), and again, with what was
 * wrong with the last answer, until an answer is an address: a typo at a prompt is not worth starting over.
 */
export const resolveConfig = (
  flags: RawFlags,
  askTarget: Option.Option<(problem: string | undefined, peerCommand: string | undefined) => Effect.Effect<string, UsageError>>,
  hasInterface: (name: string) => boolean = interfaceOnThisMachine,
  interfaces: Interfaces = os.networkInterfaces()
): Effect.Effect<Config, UsageError> =>
  Effect.gen(function* () {
    const port = yield* checkPort("-p/--port", flags.port, true)
    const remote = yield* checkPort("-r/--remote", flags.remote, false)
    const mode = MODES[wholeNumber(flags.mode) ?? -1]
    if (mode === undefined) return yield* usage(notAMode("-m/--mode", flags.mode))
    if (flags.protocol !== "seed" && flags.protocol !== "v2")
      return yield* usage(`--protocol ${showInput(flags.protocol)} is unknown: use v2 (default) or seed (the original chat.py's).`)
    const given = Option.map(flags.ip, (ip) => interfaceAddress(ip.replace(/^\[(.*)\]$/, "$1")))
    if (Option.isSome(given) && isIP(given.value) === 0 && !isValidHost(given.value))
      return yield* usage(`-i/--ip ${showInput(given.value)} is not an IP address.`)
    // `-i wlan0` with the card down: it failed to listen as "neither a network interface of this machine nor ..."
    if (Option.isSome(given) && isIP(given.value) === 0 && hasInterface(given.value))
      return yield* usage(`-i/--ip ${given.value} is a network interface of this machine that has no address now (is it down, or not connected?).`)
    if (Option.isSome(given) && isLinkLocal(given.value) && !given.value.includes("%"))
      return yield* usage(`-i/--ip ${given.value} is a link-local address that no interface of this machine has.`)
    // without -i: the address facing the target (see routeAddress), or without one, the first non-internal IPv4
    const localFor = (target: Endpoint | undefined): Effect.Effect<string> =>
      Option.isSome(given)
        ? Effect.succeed(given.value)
        : target === undefined
          ? Effect.sync(() => defaultIp(interfaces))
          : Effect.map(routeAddress(target), (address) => address ?? defaultIp(interfaces))
    if (Option.isSome(flags.key) !== Option.isSome(flags.cert))
      return yield* usage("-k/--key and -c/--cert go together: give both PEM files, or neither for a generated certificate.")
    const seconds = (flag: string, text: string, min: number) => {
      // "-5" is a number, just not one of these: said as out of range, as the other numbers too large or small
      const value = decimalNumber(text)
      if (value === undefined) return Effect.fail(usage(notSeconds(flag, text)))
      // shown as typed: 1e400 parses as Infinity, a value nobody typed
      if (!Number.isFinite(value) || value < min || value > 86_400)
        return Effect.fail(usage(`${flag} ${showValue(text)} is out of range (${min} to 86400 seconds).`))
      return Effect.succeed(value)
    }
    const wait = yield* seconds("--wait", flags.wait, 0)
    const handshakeTimeout = yield* seconds("--handshake-timeout", flags.handshakeTimeout, 1)
    const heartbeat = yield* seconds("--heartbeat", flags.heartbeat, 0)
    // 3 heartbeats of silence end the chat: at a millisecond, any pause of either process did (measured:
    // "nothing heard from the peer for 0 s" within a second of connecting)
    if (heartbeat > 0 && heartbeat < MIN_HEARTBEAT_SECONDS)
      return yield* usage(`--heartbeat ${showValue(flags.heartbeat)} is too short: 0 turns heartbeats off, else give ${MIN_HEARTBEAT_SECONDS} seconds or more.`)

    // In auto mode we listen too: a target that is where we listen is ourselves (no peer can listen there while
    // we do), and connecting to it failed its handshake, then retried for good without a word. A likely slip:
    // `-t` given this machine's own address, with both ports at their default.
    const checkTarget = (text: string): Effect.Effect<Either.Either<{ target: Endpoint; ip: string }, string>> =>
      Either.match(parseTarget(text, remote), {
        onLeft: (problem) => Effect.succeed(Either.left(problem)),
        onRight: (t) =>
          Effect.map(
            Effect.all([localFor(t), mode === "auto" && t.port === port ? addressesOf(t.host) : Effect.succeed([])], { concurrency: 2 }),
            ([ip, addresses]) => {
              // a name too: `-t localhost` with both ports at 8000 connected to ourselves, and failed after 5 s
              // as "the peer did not complete the handshake in time"
              const ours = addresses.find((a) => answersAt(ip, a))
              return ours === undefined
                ? Either.right({ target: t, ip })
                : Either.left(
                    `${formatEndpoint(t)}${ours === t.host ? "" : ` (${ours})`} is where this p2pchat listens (-i/-p), not a peer; give the peer's address (or another -p).`
                  )
            }
          )
      })
    let chosen: { target: Endpoint; ip: string } | undefined
    let peerCommandAgain: string | undefined
    if (mode !== "server") {
      if (Option.isSome(flags.target)) {
        const parsed = yield* checkTarget(flags.target.value)
        if (Either.isLeft(parsed)) return yield* usage(`-t/--target: ${parsed.left}`)
        chosen = parsed.right
      } else if (Option.isSome(askTarget)) {
        let problem: string | undefined
        // a client is reached by nobody: no command to suggest
        const command = mode === "client" ? undefined : peerCommand(Option.getOrUndefined(given), port, flags.protocol, interfaces)
        while (chosen === undefined) {
          const parsed = yield* checkTarget(yield* askTarget.value(problem, command))
          if (Either.isLeft(parsed)) problem = parsed.left
          else chosen = parsed.right
        }
        // without -i this side listens where it reaches the answer from, not always where the command said: at
        // 127.0.0.1 for a peer on this machine, whose person ran the command, and the two tried for good
        if (command !== undefined && Option.isNone(given) && !hintedHosts(undefined, interfaces).includes(chosen.ip))
          peerCommandAgain = peerCommand(chosen.ip, port, flags.protocol, interfaces)
      } else return yield* usage("No target given: pass -t/--target ip[:port] (or use -m 2 to only listen).")
    }
    const target = chosen?.target
    const ip = chosen?.ip ?? (yield* localFor(undefined))
    return {
      listen: { host: ip, port },
      target,
      mode,
      tls: Option.isSome(flags.key) && Option.isSome(flags.cert) ? { key: flags.key.value, cert: flags.cert.value } : undefined,
      protocol: flags.protocol,
      json: flags.json,
      waitSeconds: wait,
      handshakeTimeoutSeconds: handshakeTimeout,
      heartbeatSeconds: heartbeat,
      stay: flags.stay,
      unusedInMode: unusedIn(mode, flags, port, remote, wait),
      unusedRemote: target !== undefined && remote !== DEFAULT_PORT && target.port !== remote ? remote : undefined,
      unusedHeartbeat: flags.protocol === "seed" && heartbeat !== DEFAULT_HEARTBEAT_SECONDS ? showValue(flags.heartbeat) : undefined,
      peerCommandAgain
    }
  })

/**
 * What was given that `mode` does not use: a server neither connects nor needs the peer's address; a client
 * neither listens nor presents a certificate (-k/-c were read, checked and put aside); only a client gives up
 * (--wait), auto mode tries on until a chat starts. A port or a time is named where it is not the default.
 */
const unusedIn = (mode: Mode, flags: RawFlags, port: number, remote: number, wait: number): ReadonlyArray<string> | undefined => {
  const waitGiven = wait === DEFAULT_WAIT_SECONDS ? [] : [`--wait ${showValue(flags.wait)}`]
  const unused =
    mode === "server"
      ? [
        ...Option.match(flags.target, { onNone: () => [], onSome: (t) => [`-t ${showInput(t)}`] }),
        ...(remote === DEFAULT_PORT ? [] : [`-r ${remote}`]),
        ...waitGiven
      ]
      : mode === "auto"
        ? waitGiven
        : [
          ...Option.match(flags.ip, { onNone: () => [], onSome: (ip) => [`-i ${showInput(ip)}`] }),
          ...(port === DEFAULT_PORT ? [] : [`-p ${port}`]),
          ...(Option.isSome(flags.key) ? ["-k/-c"] : [])
        ]
  return unused.length === 0 ? undefined : unused
}

/**
 * Flags given that this run does not use, which it took without a word (chat.py's users pass -t, -i and -p
 * with every mode): said in the banner, so that nobody thinks them in effect.
 */
export const unusedHint = (config: Config): string | undefined => {
  const sentences: Array<string> = []
  const unused = config.unusedInMode
  if (unused !== undefined) {
    const listed = unused.length === 1 ? unused[0]! : `${unused.slice(0, -1).join(", ")} and ${unused.at(-1)!}`
    const why = config.mode === "server"
      ? "server mode (-m 2), which only listens: the peer connects to this side"
      : config.mode === "auto"
        ? "auto mode (-m 0), which tries on until a chat starts (client mode, -m 1, gives up after it)"
        : `client mode (-m 1), which only connects: this side ${unused.includes("-k/-c") ? "neither listens nor presents a TLS certificate" : "does not listen"}`
    sentences.push(`${listed} ${unused.length === 1 ? "is" : "are"} not used in ${why}.`)
  }
  if (config.unusedRemote !== undefined && config.target !== undefined)
    sentences.push(`-r ${config.unusedRemote} is not used: the target, ${formatEndpoint(config.target)}, names its own port.`)
  if (config.unusedHeartbeat !== undefined)
    sentences.push(`--heartbeat ${config.unusedHeartbeat} is not used with --protocol seed: chat.py's wire protocol has no heartbeat.`)
  return sentences.length === 0 ? undefined : sentences.join(" ")
}

/**
 * Where this side listens, when the question for the target had named other addresses in the peer's command:
 * the command again, for where it does listen. Last among the hints: it ends in a command, with no full stop to
 * copy with it.
 */
export const listenHint = (config: Config): string | undefined =>
  config.peerCommandAgain === undefined || config.target === undefined
    ? undefined
    : `This side listens on ${config.listen.host}, where it reaches ${formatEndpoint(config.target)} from, not at the address said above. ${config.peerCommandAgain}`

/** What the banner says under where this run listens and connects, if anything: every hint that applies. */
export const bannerHint = (config: Config): string | undefined =>
  [sameMachineHint(config), unusedHint(config), listenHint(config)].filter((hint) => hint !== undefined).join(" ") || undefined

/**
 * In auto mode, a target on this machine's loopback while we listen on another address: two p2pchats on one
 * machine, each naming the other as 127.0.0.1 and each listening on this host's address (the default -i),
 * never meet; both kept trying, silently, for good. Said once at the start (not an error: the other side
 * may listen on every address, or name us by our own address).
 */
export const sameMachineHint = (config: Config): string | undefined =>
  config.mode === "auto" &&
  config.target !== undefined &&
  isLoopback(config.target.host) &&
  !isLoopback(config.listen.host) &&
  !isWildcard(config.listen.host)
    ? `The peer is on this machine (${formatEndpoint(config.target)}), and this side listens on ${config.listen.host} only: if the peer names this side as ${config.target.host} too, give both sides -i ${config.target.host === "::1" ? "::1" : "127.0.0.1"}.`
    : undefined
