import { Options } from "@effect/cli"
import { DEFAULT_PORT } from "../domain/address.js"
import { VERSION } from "../version.js"
import { fold } from "./render.js"

/**
 * p2pchat's options, each said once: what @effect/cli parses (`options`), what `--help` prints (`helpText`)
 * and what argv.ts names when it explains a refused command line all come from this table.
 */

export type Kind =
  | { readonly _tag: "port"; readonly min: 0 | 1 }
  | { readonly _tag: "mode" }
  | { readonly _tag: "seconds" }
  | { readonly _tag: "text"; readonly what: string }
  | { readonly _tag: "switch" }

export interface Flag {
  readonly long: string
  readonly short?: string
  readonly kind: Kind
  /** The value's name in `--help` (none for a switch). */
  readonly value?: string
  /** Its line in `--help`; @effect/cli's own options that a chat has no use for have none and are not listed. */
  readonly help?: string
}

export const FLAGS: ReadonlyArray<Flag> = [
  {
    long: "ip",
    short: "i",
    kind: { _tag: "text", what: "an IP address" },
    value: "IP",
    help: "local address to listen on (default: the one this host reaches the target from; without a target, its first non-internal IPv4 address; an interface's name stands for its address)"
  },
  { long: "port", short: "p", kind: { _tag: "port", min: 0 }, value: "PORT", help: "local port to listen on (default 8000; 0: any free port)" },
  {
    long: "target",
    short: "t",
    kind: { _tag: "text", what: "the peer's address, ip[:port]" },
    value: "IP[:PORT]",
    help: "the peer's address, a name, or [ipv6]:port (asked for at a terminal if missing)"
  },
  { long: "remote", short: "r", kind: { _tag: "port", min: 1 }, value: "PORT", help: "the peer's port when -t has none (default 8000)" },
  {
    long: "mode",
    short: "m",
    kind: { _tag: "mode" },
    value: "0|1|2",
    help: "0 auto (default: connect or be connected), 1 client (connect only), 2 server (listen only)"
  },
  { long: "key", short: "k", kind: { _tag: "text", what: "a PEM file" }, value: "FILE", help: "TLS private key, PEM (with -c; default: a new one each run)" },
  { long: "cert", short: "c", kind: { _tag: "text", what: "a PEM file" }, value: "FILE", help: "TLS certificate, PEM (with -k)" },
  {
    long: "protocol",
    kind: { _tag: "text", what: "v2 or seed" },
    value: "v2|seed",
    help: "wire protocol: v2 (default: Double Ratchet, safety code, receipts) or seed (talks to the original chat.py)"
  },
  { long: "json", kind: { _tag: "switch" }, help: "print one JSON object per line for every event (for scripts)" },
  {
    long: "stay",
    kind: { _tag: "switch" },
    help: "when standard input is not a terminal, its end does not leave: the chat lasts until the peer leaves, a /quit line or Ctrl-C (to only receive: --stay\u00a0</dev/null)"
  },
  { long: "wait", kind: { _tag: "seconds" }, value: "SECONDS", help: "how long client mode keeps trying to reach the target (default 10)" },
  {
    long: "handshake-timeout",
    kind: { _tag: "seconds" },
    value: "SECONDS",
    help: "how long a peer has to complete the handshake once connected (default 5)"
  },
  {
    long: "heartbeat",
    kind: { _tag: "seconds" },
    value: "SECONDS",
    help: "silence before a keep-alive, which the peer answers (v2; default 5); over 3x this without a sound ends the chat (seen at the next beat, so by 4x); 0 turns it off (the peer's are still answered)"
  },
  { long: "help", short: "h", kind: { _tag: "switch" }, help: "this text" },
  { long: "version", kind: { _tag: "switch" }, help: "the version" },
  // @effect/cli's own: known, so never called unknown in argv.ts, and not listed
  { long: "wizard", kind: { _tag: "switch" } },
  { long: "completions", kind: { _tag: "text", what: "a shell" } },
  { long: "log-level", kind: { _tag: "text", what: "a log level" } }
]

/**
 * A help text's no-break space holds a command's words on one row ("--stay" / "</dev/null" were two at 80 columns):
 * folding breaks at spaces only. Shown as a space, so that the command copies as one a shell reads.
 */
const spaced = (line: string): string => line.replaceAll("\u00a0", " ")

const helpOf = (long: string): string => spaced(FLAGS.find((f) => f.long === long)?.help ?? "")

/** How long client mode keeps trying to reach its target, unless --wait says otherwise. */
export const DEFAULT_WAIT_SECONDS = 10

/** Idle seconds before a v2 keep-alive, unless --heartbeat says otherwise. */
export const DEFAULT_HEARTBEAT_SECONDS = 5

/** What @effect/cli parses, described from the table. */
export const options = {
  ip: Options.text("ip").pipe(Options.withAlias("i"), Options.withDescription(helpOf("ip")), Options.optional),
  // as text: our own parse (config.ts) takes decimal digits only, where @effect/cli's integer took "0x50" for 80
  port: Options.text("port").pipe(Options.withAlias("p"), Options.withDefault(String(DEFAULT_PORT)), Options.withDescription(helpOf("port"))),
  target: Options.text("target").pipe(Options.withAlias("t"), Options.withDescription(helpOf("target")), Options.optional),
  remote: Options.text("remote").pipe(Options.withAlias("r"), Options.withDefault(String(DEFAULT_PORT)), Options.withDescription(helpOf("remote"))),
  mode: Options.text("mode").pipe(Options.withAlias("m"), Options.withDefault("0"), Options.withDescription(helpOf("mode"))),
  key: Options.text("key").pipe(Options.withAlias("k"), Options.withDescription(helpOf("key")), Options.optional),
  cert: Options.text("cert").pipe(Options.withAlias("c"), Options.withDescription(helpOf("cert")), Options.optional),
  protocol: Options.text("protocol").pipe(Options.withDefault("v2"), Options.withDescription(helpOf("protocol"))),
  json: Options.boolean("json").pipe(Options.withDescription(helpOf("json"))),
  // as text too (config.ts): @effect/cli's float took "0x10" for 16 seconds
  wait: Options.text("wait").pipe(Options.withDefault(String(DEFAULT_WAIT_SECONDS)), Options.withDescription(helpOf("wait"))),
  handshakeTimeout: Options.text("handshake-timeout").pipe(Options.withDefault("5"), Options.withDescription(helpOf("handshake-timeout"))),
  heartbeat: Options.text("heartbeat").pipe(Options.withDefault(String(DEFAULT_HEARTBEAT_SECONDS)), Options.withDescription(helpOf("heartbeat"))),
  stay: Options.boolean("stay").pipe(Options.withDescription(helpOf("stay")))
}

export const DESCRIPTION =
  "Run it on both machines, each naming the other with -t, and compare the safety code it shows. In the chat: /quit, /verify, /help."

const COLUMN = 26

/**
 * `--help`, as a person reads it: one entry a flag, its text folded at `width`. @effect/cli's own took 118 lines,
 * each flag with "A user-defined piece of text." and "This setting is optional." beside what it does.
 */
export const helpText = (width: number): string => {
  const lines = [
    // folded too: a phone's terminal broke it inside a word ("end-to-en" / "d")
    ...fold(`p2pchat ${VERSION}: peer-to-peer, end-to-end encrypted chat`, "", width),
    "",
    "Usage: p2pchat [-t IP[:PORT]] [options]",
    "",
    ...fold(DESCRIPTION, "", width),
    "",
    "Options:"
  ]
  // a narrow terminal (a phone) gets each text under its label: beside it, it had a dozen columns
  const column = width >= 60 ? COLUMN : 8
  const indent = " ".repeat(column)
  for (const flag of FLAGS) {
    if (flag.help === undefined) continue
    const label = `  ${flag.short === undefined ? "   " : `-${flag.short},`} --${flag.long}${flag.value === undefined ? "" : ` ${flag.value}`}`
    const text = fold(flag.help, indent, width).map(spaced)
    if (label.length < column - 1) lines.push(label.padEnd(column) + text[0]!.slice(column), ...text.slice(1))
    else lines.push(label, ...text)
  }
  lines.push("", ...fold("More in the package: README.md (scripting, --json events, exit codes) and docs/PROTOCOL.md.", "", width))
  return lines.join("\n") + "\n"
}
