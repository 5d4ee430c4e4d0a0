import type { ChatEvent } from "../domain/events.js"
import { escapeForTerminal } from "../domain/text.js"

export interface Style {
  readonly bold: (s: string) => string
  readonly dim: (s: string) => string
  readonly green: (s: string) => string
  readonly cyan: (s: string) => string
  readonly yellow: (s: string) => string
  readonly red: (s: string) => string
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`
export const colors: Style = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  green: wrap(32, 39),
  cyan: wrap(36, 39),
  yellow: wrap(33, 39),
  red: wrap(31, 39)
}
const id = (s: string) => s
export const plain: Style = { bold: id, dim: id, green: id, cyan: id, yellow: id, red: id }

/** NO_COLOR (no-color.org) or output that is not a terminal turns colour off. */
export const colourOn = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY === true && !("NO_COLOR" in process.env && process.env.NO_COLOR !== "")

export const styleFor = (stream: NodeJS.WriteStream): Style => (colourOn(stream) ? colors : plain)

/** SGR sequences (colour, bold): what text made for a terminal carries that a pipe or a file should not. */
export const withoutColour = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "")

const two = (n: number) => (n < 10 ? `0${n}` : String(n))

/**
 * An event's time as a person reads it: local time (events carry UTC, which people east or west of
 * Greenwich read as an hour or more off). HH:MM:SS; `hhmm` its first five characters. Remembered for the
 * last second seen: a busy view renders many events of the same second.
 */
let lastSecond = ""
let lastLocal = ""
export const localTime = (iso: string): string => {
  const second = iso.slice(0, 19)
  if (second !== lastSecond) {
    const d = new Date(iso)
    lastSecond = second
    lastLocal = Number.isNaN(d.getTime()) ? iso.slice(11, 19) : `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  }
  return lastLocal
}
export const hhmm = (iso: string) => localTime(iso).slice(0, 5)
const hhmmss = localTime

/** 64 hex digits as two rows of eight 4-digit groups: easier to read aloud than one run. */
export const groupFingerprint = (hex: string): [string, string] => {
  const groups = hex.match(/.{1,4}/g) ?? []
  return [groups.slice(0, 8).join(" "), groups.slice(8).join(" ")]
}

/** Columns the handshake's lines keep within: the width of the smallest common terminal. */
const COLUMNS = 80

/** `text` broken at spaces into lines of at most `width` columns, each starting with `indent`. */
export const fold = (text: string, indent: string, width: number = COLUMNS): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  return [...lines, indent + line]
}

/** Characters of ids a person is shown at most (the JSON view lists them all). */
const ID_LIST_CHARS = 200

/**
 * Message ids for a person: runs of consecutive numbers as ranges ("1-20000", where 20,000 ids were listed one
 * by one on a single line), cut after ID_LIST_CHARS with what is left counted.
 */
export const idList = (ids: ReadonlyArray<string>): string => {
  const numeric = (id: string) => /^\d{1,15}$/.test(id)
  let shown = ""
  for (let i = 0; i < ids.length; ) {
    let j = i
    while (j + 1 < ids.length && numeric(ids[j]!) && numeric(ids[j + 1]!) && Number(ids[j + 1]) === Number(ids[j]) + 1) j++
    const part = j > i ? `${ids[i]}-${ids[j]}` : ids[i]!
    const next = shown === "" ? part : `${shown}, ${part}`
    if (next.length > ID_LIST_CHARS && shown !== "") return escapeForTerminal(`${shown}, … ${ids.length - i} more`)
    shown = next
    i = j + 1
  }
  return escapeForTerminal(shown)
}

/** The terminal lines for one event (none for events the human view does not show). */
export const renderEvent = (e: ChatEvent, s: Style): Array<string> => {
  const stamp = s.dim(`[${hhmmss(e.at)}]`)
  switch (e._tag) {
    case "listening":
      return [`${stamp} Listening on ${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port}`]
    case "connecting":
      return [`${stamp} Connecting to ${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port} ...`]
    case "connected":
      return [`${stamp} Connected ${e.role === "connector" ? "to" : "from"} ${e.peer}`]
    case "rejected":
      return [`${stamp} ${s.yellow("Turned away")} ${e.peer}: ${escapeForTerminal(e.reason)} Still waiting.`]
    case "handshake": {
      const [l1, l2] = groupFingerprint(e.localFingerprint)
      const [p1, p2] = groupFingerprint(e.peerFingerprint)
      const lines = [
        `${stamp} Secure session ready (${e.protocol}).`,
        ...fold(e.suite, "  ").map(s.dim),
        `  Public key fingerprints (SHA-256), to compare over another channel:`,
        `    you   ${l1}`,
        `          ${l2}`,
        `    peer  ${p1}`,
        `          ${p2}`
      ]
      if (e.sas !== undefined)
        lines.push(
          `  ${s.bold("Safety code:")} ${s.bold(s.cyan(e.sas))}`,
          `  Read it aloud with your peer: if the codes differ, someone is in the middle.`
        )
      lines.push(`  Type a message and press Enter. ${s.dim("/help for commands.")}`)
      return lines
    }
    case "sent":
      return [`${s.dim(`Sent ${hhmm(e.at)}`)}      ${s.bold(escapeForTerminal(e.text))}`]
    case "delivered":
      return []
    case "message":
      return [`${s.green(`Received ${hhmm(e.at)}`)}  ${s.bold(escapeForTerminal(e.text))}`]
    case "unsupported":
      return [`${stamp} ${s.yellow("The peer sent a kind of message this version does not know")} (${escapeForTerminal(e.kind)}); skipped.`]
    case "peer-left":
      return [`${stamp} ${s.yellow("Your peer left the chat.")}`]
    case "disconnected": {
      const lines =
        e.reason === "left" ? [`${stamp} You left the chat.`] : e.reason === "peer left" ? [] : [`${stamp} ${s.red("Disconnected.")}`]
      if (e.undelivered.length > 0)
        lines.push(`  ${s.yellow(`Not confirmed as delivered: ${e.undelivered.length} message(s) (${idList(e.undelivered)}).`)}`)
      return lines
    }
    case "error":
      return [`${stamp} ${s.red((e.line === undefined ? "" : `Line ${e.line}: `) + escapeForTerminal(e.message))}`]
  }
}

/**
 * Retries in auto and client mode make a `connecting` event every few hundred milliseconds: the JSON stream
 * keeps them all, a person sees the first one per target only.
 */
export const dropRepeatedConnecting = () => {
  let last: string | undefined
  return (e: ChatEvent): boolean => {
    if (e._tag !== "connecting") return true
    const key = `${e.address}:${e.port}`
    if (key === last) return false
    last = key
    return true
  }
}
