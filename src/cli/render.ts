import type { ChatEvent } from "../domain/events.js"
import { escapeForTerminal, messageForTerminal, quoteInput } from "../domain/text.js"
import type { OutputLine } from "../domain/utf8Lines.js"

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
/** A piece's style where it has none. */
export const unstyled = (s: string) => s
export const plain: Style = { bold: unstyled, dim: unstyled, green: unstyled, cyan: unstyled, yellow: unstyled, red: unstyled }

/** NO_COLOR (no-color.org) or output that is not a terminal turns colour off. */
export const colourOn = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY === true && !dumbTerminal() && !("NO_COLOR" in process.env && process.env.NO_COLOR !== "")

/**
 * A terminal that says it understands no escape sequences (TERM=dumb: Emacs' shell buffer, some IDE
 * consoles): it gets plain lines, neither colour nor the interactive view's cursor movements.
 */
export const dumbTerminal = (): boolean => process.env.TERM === "dumb"

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

/** 64 hex digits as rows of 4-digit groups, eight to a row unless fewer are asked: easier to read aloud than one run. */
export const groupFingerprint = (hex: string, perRow = 8): Array<string> => {
  const groups = hex.match(/.{1,4}/g) ?? []
  const rows: Array<string> = []
  for (let i = 0; i < groups.length; i += perRow) rows.push(groups.slice(i, i + perRow).join(" "))
  return rows
}

/** Columns a fingerprint row of eight groups takes after its label ("    peer  "). */
const EIGHT_GROUPS = 10 + 8 * 5 - 1

/**
 * What the two people compare: both fingerprints and (v2) the safety code, for a terminal `columns` wide
 * (a narrow one, as a phone's, gets four groups to a row rather than rows the terminal breaks).
 * `/verify` shows it again.
 */
export const verification = (e: Extract<ChatEvent, { _tag: "handshake" }>, s: Style, columns: number = COLUMNS): Array<string> => {
  const width = Math.min(columns, COLUMNS)
  const perRow = width >= EIGHT_GROUPS ? 8 : 4
  const labelled = (label: string, hex: string) =>
    groupFingerprint(hex, perRow).map((row, i) => `    ${(i === 0 ? label : "").padEnd(6)}${row}`)
  const lines = [
    ...fold("Public key fingerprints (SHA-256), to compare over another channel:", "  ", width),
    ...labelled("you", e.localFingerprint),
    ...labelled("peer", e.peerFingerprint)
  ]
  if (e.sas !== undefined)
    lines.push(
      `  ${s.bold("Safety code:")} ${s.bold(s.cyan(e.sas))}`,
      ...fold("Read it aloud with your peer: if the codes differ, someone is in the middle.", "  ", width)
    )
  return lines
}

/** Columns the handshake's lines keep within: the width of the smallest common terminal. */
const COLUMNS = 80

/** `text` broken at spaces into lines of at most `width` columns, each starting with `indent`. */
export const fold = (text: string, indent: string, width: number = COLUMNS): Array<string> => foldUnits(text.split(" "), " ", indent, width)

/** `units` joined by `separator` into lines of at most `width` columns, each starting with `indent`; a unit is never broken. */
export const foldUnits = (units: ReadonlyArray<string>, separator: string, indent: string, width: number = COLUMNS): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const unit of units) {
    if (line !== "" && indent.length + line.length + separator.length + unit.length > width) {
      lines.push(indent + line)
      line = unit
    } else line = line === "" ? unit : `${line}${separator}${unit}`
  }
  return [...lines, indent + line]
}

/**
 * The first lines of a run: what runs, and where (`local` undefined: client mode, which does not listen;
 * `target` undefined: server mode), then `hint` if any. Folded at their parts on a narrow terminal, which broke
 * them anywhere ("(v2" / "protocol)", "mod" / "e server").
 */
export const bannerLines = (
  b: {
    readonly version: string
    readonly protocol: string
    readonly mode: string
    readonly local: string | undefined
    readonly target: string | undefined
    readonly hint?: string | undefined
  },
  s: Style,
  width: number
): Array<string> => {
  const title = foldUnits([`p2pchat ${b.version}`, "peer-to-peer, end-to-end encrypted chat", `(${b.protocol} protocol)`], "  ", "", width)
  title[0] = s.bold("p2pchat") + title[0]!.slice("p2pchat".length)
  const where = foldUnits(
    [`local  ${b.local ?? "(none: connecting only)"}`, `target  ${b.target ?? "(none: listening only)"}`, `mode ${b.mode}`],
    "   ",
    "  ",
    width
  )
  return [...title, ...where, ...(b.hint === undefined ? [] : fold(b.hint, "  ", width).map((line) => s.yellow(line)))]
}

/** Columns a piece of text takes on a terminal (string-width's default export). */
export type DisplayWidth = (text: string) => number

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

/** Printable ASCII only (most text, and what escapeForTerminal makes of control characters): a column each. */
export const isPrintableAscii = (text: string): boolean => PRINTABLE_ASCII.test(text)

/** Longest text whose width `cheapWidth` remembers (a character, a grapheme cluster), and how many it keeps. */
const REMEMBERED_UNITS = 16
const REMEMBERED = 4096

/**
 * Characters that join a neighbour into one grapheme cluster: marks, joiners, variation selectors, Hangul jamo,
 * regional indicators (flags), emoji modifiers, tags. In a text without any, each code point is a cluster of
 * its own, and the text can be taken code point by code point rather than through Intl.Segmenter (5 µs a
 * cluster here: 30,000 Hebrew letters took 180 ms).
 */
const JOINING = /[\p{M}\u200c\u200d\ufe00-\ufe0f\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff\u{1f1e6}-\u{1f1ff}\u{1f3fb}-\u{1f3ff}\u{e0000}-\u{e0fff}]/u

// made on first use: ICU's segmenter costs start-up time that only the interactive view needs
let segmenter: Intl.Segmenter | undefined

/** The grapheme clusters of `text`, as a terminal places them: one to a cell, or two for a wide one. */
export const clustersOf = (text: string): Iterable<string> => {
  if (!JOINING.test(text)) return text
  segmenter ??= new Intl.Segmenter(undefined, { granularity: "grapheme" })
  const segments = segmenter.segment(text)
  return {
    *[Symbol.iterator]() {
      for (const { segment } of segments) yield segment
    }
  }
}

/**
 * `displayWidth` made cheap for what a terminal view measures again and again: printable ASCII by its length,
 * clusters (characters) remembered, a long text summed from its clusters. string-width takes about 24 µs a call
 * here, and a 64 KiB message measured a character at a time took 1.5 s, all that time holding the chat (a peer
 * sending long lines made the view fall behind by a second and a half each).
 */
export const cheapWidth = (displayWidth: DisplayWidth): DisplayWidth => {
  const remembered = new Map<string, number>()
  const cluster = (text: string) => {
    let width = remembered.get(text)
    if (width === undefined) {
      width = displayWidth(text)
      if (remembered.size >= REMEMBERED) remembered.clear()
      remembered.set(text, width)
    }
    return width
  }
  return (styled) => {
    // our colours take no column (text from the peer has no escapes left: see escapeForTerminal)
    const text = styled.includes("\x1b") ? withoutColour(styled) : styled
    if (isPrintableAscii(text)) return text.length
    if (text.length <= REMEMBERED_UNITS) return cluster(text)
    let width = 0
    for (const c of clustersOf(text)) width += c.length > REMEMBERED_UNITS ? displayWidth(c) : cluster(c)
    return width
  }
}

/** Some text and the style it is shown in. */
export type Piece = readonly [text: string, style: (s: string) => string]

/**
 * Chinese and Japanese put no spaces between words, so a line may break beside any of their characters (UAX #14's
 * class ID): ideographs, kana, their punctuation and fullwidth forms. Korean spaces its words; folding at spaces
 * serves it.
 */
const IDEOGRAPHIC = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff01-\uff60\uffe0-\uffe6]/u
/**
 * What may not start a row (closing punctuation, small kana, the prolonged sound mark) or end one (opening
 * punctuation):
 *   not first: 、。，．・：；？！）」』】〕〉》〙〗｝］ー々〻ゝゞヽヾぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ〜～…‥’”
 *   not last:  （「『【〔〈《〘〖｛［‘“
 * Written as escapes: one character beyond ASCII left in the CLI's bundle makes V8 keep all of its source two
 * bytes a character (esbuild escapes the others, not those in a `u` regular expression); package.test checks it.
 */
const NO_BREAK_BEFORE = /^[\u3001\u3002\uff0c\uff0e\u30fb\uff1a\uff1b\uff1f\uff01\uff09\u300d\u300f\u3011\u3015\u3009\u300b\u3019\u3017\uff5d\uff3d\u30fc\u3005\u303b\u309d\u309e\u30fd\u30fe\u3041\u3043\u3045\u3047\u3049\u3063\u3083\u3085\u3087\u308e\u3095\u3096\u30a1\u30a3\u30a5\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7\u30ee\u30f5\u30f6\u301c\uff5e\u2026\u2025,.:;!?)\]}\u2019\u201d]/u
const NO_BREAK_AFTER = /[\uff08\u300c\u300e\u3010\u3014\u3008\u300a\u3018\u3016\uff5b\uff3b(\[{\u2018\u201c]$/u

/** Thai, Lao, Khmer and Burmese put no spaces between words either: a row may end between the words ICU finds. */
const UNSPACED = /[\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u
// made on first use, as the grapheme segmenter is
let wordSegmenter: Intl.Segmenter | undefined

/**
 * `word` (no spaces) cut where a row may end inside it: beside Chinese or Japanese characters, between Thai, Lao,
 * Khmer or Burmese words; other words stay whole.
 */
export const breakable = (word: string): Array<string> => {
  const unspaced = UNSPACED.test(word)
  if (!unspaced && !IDEOGRAPHIC.test(word)) return [word]
  const pieces: Iterable<string> = unspaced
    ? Array.from((wordSegmenter ??= new Intl.Segmenter(undefined, { granularity: "word" })).segment(word), (s) => s.segment)
    : clustersOf(word)
  const parts: Array<string> = []
  let part = ""
  let previous = ""
  for (const piece of pieces) {
    const mayBreak = unspaced || IDEOGRAPHIC.test(previous) || IDEOGRAPHIC.test(piece)
    if (part !== "" && mayBreak && !NO_BREAK_BEFORE.test(piece) && !NO_BREAK_AFTER.test(previous)) {
      parts.push(part)
      part = ""
    }
    part += piece
    previous = piece
  }
  parts.push(part)
  return parts
}

/** Least room for text beside a label: on a narrower terminal, folding under the label would leave a column of words. */
const LEAST_HANGING = 24

/**
 * `pieces` after `label`, folded at spaces to a terminal `columns` wide, the rows after the first indented to
 * the label's width: the terminal broke a message anywhere ("that w" / "ill need") and went on under the
 * label. Text that puts no spaces between its words (Chinese, Japanese, Thai ...) folds where `breakable` says.
 * A word that does not fit on a row of its own is left whole for the terminal to wrap (a link or a key stays one
 * piece to copy); a terminal too narrow for the indent gets one line, as before. Each row styles its pieces
 * separately, so a row never ends inside a style.
 */
export const hang = (
  label: string,
  pieces: ReadonlyArray<Piece>,
  columns: number,
  width: DisplayWidth
): Array<string> => {
  const labelWidth = width(label)
  const room = columns - labelWidth
  if (room < LEAST_HANGING) return [oneLine(label, pieces)]
  const rows: Array<Array<Piece>> = [[]]
  let used = 0
  // spaces waiting for the next word: kept between words on a row, dropped at a break
  let spaces: Array<Piece> = []
  for (const [text, style] of pieces) {
    for (const token of text.split(/( +)/)) {
      if (token === "") continue
      if (token.startsWith(" ")) {
        spaces.push([token, style])
        continue
      }
      for (const unit of breakable(token)) {
        const gap = spaces.reduce((n, [s]) => n + s.length, 0)
        const w = width(unit)
        if (used > 0 && used + gap + w > room) {
          rows.push([])
          used = 0
        } else {
          rows[rows.length - 1]!.push(...spaces)
          used += gap
        }
        used += w
        spaces = []
        rows[rows.length - 1]!.push([unit, style])
      }
    }
  }
  if (rows.length === 1) return [oneLine(label, pieces)]
  const indent = " ".repeat(labelWidth)
  return rows.map((row, i) => (i === 0 ? label : indent) + styled(row))
}

/** `pieces` after `label` on one line, however long (the terminal wraps it, or a file keeps it whole). */
const oneLine = (label: string, pieces: ReadonlyArray<Piece>): string => label + pieces.map(([text, style]) => style(text)).join("")

/** A row's pieces, neighbours in the same style joined (one pair of escapes for a run of words). */
const styled = (row: ReadonlyArray<Piece>): string => {
  let out = ""
  for (let i = 0; i < row.length; ) {
    const style = row[i]![1]
    let text = ""
    for (; i < row.length && row[i]![1] === style; i++) text += row[i]![0]
    out += style(text)
  }
  return out
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

/** Characters of a message of one's own that a person is shown to recognise it by. */
const RECOGNISED_CHARS = 30

/** A message of one's own as a list of them shows it: its start, quoted. */
export const quoteSent = (text: string): string => quoteInput(text, RECOGNISED_CHARS)

/**
 * Undelivered messages for a person at a terminal: by their quoted starts, which say which ones to send again
 * (ids are not shown there), cut after ID_LIST_CHARS with what is left counted; undefined if any is unknown.
 */
export const unconfirmedList = (ids: ReadonlyArray<string>, quoted: (id: string) => string | undefined): string | undefined => {
  let shown = ""
  for (let i = 0; i < ids.length; i++) {
    const q = quoted(ids[i]!)
    if (q === undefined) return undefined
    const next = shown === "" ? q : `${shown}, ${q}`
    if (next.length > ID_LIST_CHARS && shown !== "") return `${shown}, … ${ids.length - i} more`
    shown = next
  }
  return shown
}

const TYPE_HINT = "Type a message and press Enter."
const HELP_HINT = "/help for commands."

/**
 * How to chat, said after the handshake where a person types (not to a pipe: there /help would be sent as a
 * message).
 */
export const typeHint = (s: Style, columns: number = COLUMNS): Array<string> =>
  `  ${TYPE_HINT} ${HELP_HINT}`.length <= columns
    ? [`  ${TYPE_HINT} ${s.dim(HELP_HINT)}`]
    : [...fold(TYPE_HINT, "  ", columns), `  ${s.dim(HELP_HINT)}`]

/** What the interactive view knows of its terminal and of what was sent from it. */
export interface Terminal {
  /** The terminal's measure of text: long messages and sentences are folded under their labels (see `hang`). */
  readonly width: DisplayWidth
  /** A message sent from here, as `quoteSent` shows it, while it waits for its receipt. */
  readonly sentText?: (id: string) => string | undefined
}

/** Texts from this length (UTF-16 units) are written into their line as they are when they need no escape. */
const LONG_TEXT = 1024
/** Stands for the text while its line is rendered: a private-use character, which no escape or label makes. */
const TEXT_MARK = "\ue000"

/**
 * A sent or received message's line in a file or a pipe (renderEvent's, without `terminal`). For a long text:
 * the line's two ends, and the text as it is, which escapedLine escapes if it must (utf8Lines.ts says why).
 */
export const pipedTextLine = (e: Extract<ChatEvent, { _tag: "sent" | "message" }>, s: Style): OutputLine => {
  if (e.text.length < LONG_TEXT) return renderEvent(e, s)[0]!
  const marked = renderEvent({ ...e, text: TEXT_MARK }, s)[0]!
  const at = marked.indexOf(TEXT_MARK)
  // (never so: the mark is in the line once, as the text)
  if (at === -1 || marked.indexOf(TEXT_MARK, at + 1) !== -1) return renderEvent(e, s)[0]!
  return [marked.slice(0, at), e.text, marked.slice(at + TEXT_MARK.length)]
}

/** A line of pipedTextLine as renderEvent gives it, its text escaped for the terminal. */
export const escapedLine = (line: OutputLine): string =>
  typeof line === "string" ? line : line[0] + messageForTerminal(line[1]) + line[2]

/**
 * The terminal lines for one event (none for events the human view does not show), for a terminal `columns`
 * wide. Without `terminal` (output to a file or a pipe) every event stays one line, for grep and for reading
 * back, and undelivered messages are listed by id (as that output's delivery lines name them).
 */
export const renderEvent = (e: ChatEvent, s: Style, columns: number = COLUMNS, terminal?: Terminal): Array<string> => {
  const stamp = s.dim(`[${hhmmss(e.at)}]`)
  const line = (label: string, ...pieces: ReadonlyArray<Piece>): Array<string> =>
    terminal === undefined ? [oneLine(label, pieces)] : hang(label, pieces, columns, terminal.width)
  switch (e._tag) {
    case "listening":
      return line(`${stamp} `, [`Listening on ${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port}`, unstyled])
    case "connecting":
      return line(`${stamp} `, [`Connecting to ${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port} ...`, unstyled])
    case "connected":
      return line(`${stamp} `, [`Connected ${e.role === "connector" ? "to" : "from"} ${e.peer}`, unstyled])
    case "rejected":
      return e.role === "connector"
        ? line(`${stamp} `, [escapeForTerminal(e.reason), s.yellow], [" Still trying, and waiting for the peer to connect.", unstyled])
        : line(`${stamp} `, ["Turned away", s.yellow], [` ${e.peer}: ${escapeForTerminal(e.reason)} Still waiting.`, unstyled])
    case "handshake":
      return [
        `${stamp} Secure session ready (${e.protocol}).`,
        ...fold(e.suite, "  ", Math.min(columns, COLUMNS)).map(s.dim),
        ...verification(e, s, columns)
      ]
    case "sent":
      // where no mark can be set on the line later (a file, a pipe, a dumb terminal), the id that the
      // "Delivered" line and the list of unconfirmed messages name
      return terminal === undefined
        ? [oneLine(s.dim(`Sent ${hhmm(e.at)} #${e.id}`.padEnd("Received hh:mm".length)) + "  ", [[messageForTerminal(e.text), s.bold]])]
        : line(`${s.dim(`Sent ${hhmm(e.at)}`)}      `, [messageForTerminal(e.text, terminal.width), s.bold])
    case "delivered":
      return []
    case "message":
      return line(`${s.green(`Received ${hhmm(e.at)}`)}  `, [messageForTerminal(e.text, terminal?.width), s.bold])
    case "unsupported":
      return line(`${stamp} `, ["The peer sent a kind of message this version does not know", s.yellow], [` (${escapeForTerminal(e.kind)}); skipped.`, unstyled])
    case "peer-left":
      return line(`${stamp} `, ["Your peer left the chat.", s.yellow])
    case "disconnected": {
      const lines =
        e.reason === "left" ? [`${stamp} You left the chat.`] : e.reason === "peer left" ? [] : [`${stamp} ${s.red("Disconnected.")}`]
      if (e.undelivered.length > 0) {
        const quoted = terminal?.sentText === undefined ? undefined : unconfirmedList(e.undelivered, terminal.sentText)
        const listed = quoted === undefined ? ` (${idList(e.undelivered)})` : `: ${quoted}`
        lines.push(...line("  ", [`Not confirmed as delivered: ${e.undelivered.length} message(s)${listed}.`, s.yellow]))
      }
      return lines
    }
    case "error":
      return line(`${stamp} `, [(e.line === undefined ? "" : `Line ${e.line}: `) + escapeForTerminal(e.message), s.red])
  }
}

/** How often a person is shown that retries go on. */
const STILL_TRYING_MS = 30_000

/**
 * Retries in auto and client mode make a `connecting` event every few hundred milliseconds: the JSON stream
 * keeps them all, a person sees the first one per target, then one every 30 s (by the events' times), so
 * that a wait that goes on (auto mode retries for good) is seen to go on: it showed one line, then nothing.
 */
export const dropRepeatedConnecting = () => {
  let last: string | undefined
  let shownAt = 0
  return (e: ChatEvent): boolean => {
    if (e._tag !== "connecting") return true
    const key = `${e.address}:${e.port}`
    const at = Date.parse(e.at)
    // by the events' wall-clock times: one earlier than the last shown (the clock was set back) is shown too,
    // rather than nothing for as long as the clock went back
    if (key === last && at >= shownAt && at - shownAt < STILL_TRYING_MS) return false
    last = key
    shownAt = at
    return true
  }
}
