import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  bannerLines,
  cheapWidth,
  colors,
  dropRepeatedConnecting,
  fold,
  groupFingerprint,
  breakable,
  hang,
  idList,
  localTime,
  plain,
  quoteSent,
  renderEvent,
  styleFor,
  typeHint,
  unconfirmedList,
  verification,
  withoutColour
} from "../src/cli/render.js"
import stringWidth from "string-width"
import { rowsOn } from "../src/cli/terminalView.js"
import * as SeedProtocol from "../src/layers/SeedProtocol.js"
import * as V2Protocol from "../src/layers/V2Protocol.js"
import { type ChatEvent, event } from "../src/domain/events.js"

/** A list cut at 200 characters: what it kept fits in them, and `next`, the first item left out, would not have. */
const expectCutAt200 = (shown: string, next: string) => {
  const kept = shown.slice(0, shown.indexOf(", …"))
  expect(kept.length).toBeLessThanOrEqual(200)
  expect(`${kept}, ${next}`.length).toBeGreaterThan(200)
}

describe("the human views", () => {
  it("a connection we turned away and a lasting failure of our own attempts read differently", () => {
    const turnedAway = renderEvent(event({ _tag: "rejected", peer: "10.0.0.9:5000", reason: "It spoke another protocol.", role: "listener" }), plain)
    expect(turnedAway).toEqual([expect.stringMatching(/^\[\d\d:\d\d:\d\d\] Turned away 10\.0\.0\.9:5000: It spoke another protocol\. Still waiting\.$/)])
    const ours = renderEvent(event({ _tag: "rejected", peer: "peer.lan:8000", reason: "Could not reach peer.lan:8000: the name does not resolve to an address.", role: "connector" }), plain)
    expect(ours).toEqual([expect.stringMatching(/\] Could not reach peer\.lan:8000: the name does not resolve to an address\. Still trying, and waiting for the peer to connect\.$/)])
  })

  it("a line's screen rows follow display width, as the terminal wraps it (the typed line is cleared, marks land)", () => {
    expect(rowsOn("", 80, stringWidth)).toBe(1)
    expect(rowsOn("x".repeat(80), 80, stringWidth)).toBe(1)
    expect(rowsOn("x".repeat(81), 80, stringWidth)).toBe(2)
    // two columns each: 60 of them took "one row" by UTF-16 length
    expect(rowsOn("漢".repeat(40), 80, stringWidth)).toBe(1)
    expect(rowsOn("漢".repeat(41), 80, stringWidth)).toBe(2)
    expect(rowsOn("漢".repeat(60), 80, stringWidth)).toBe(2)
    // a wide character that does not fit in the last column goes to the next row
    expect(rowsOn("a" + "漢".repeat(40), 80, stringWidth)).toBe(2)
    // combining marks take no column; emoji two; colour none
    expect(rowsOn("e\u0301".repeat(80), 80, stringWidth)).toBe(1)
    expect(rowsOn("😀".repeat(41), 80, stringWidth)).toBe(2)
    expect(rowsOn(`\x1b[1m${"x".repeat(80)}\x1b[22m`, 80, stringWidth)).toBe(1)
  })

  it("a long message is folded at words under its label, not broken mid-word and continued under the label", () => {
    const text = "hello from a, with a rather long line that will need to wrap on the narrower terminal of b ok"
    const rows = renderEvent(event({ _tag: "message", id: "1", text }), plain, 60, { width: stringWidth })
    expect(rows).toEqual([
      expect.stringMatching(/^Received \d\d:\d\d {2}hello from a, with a rather long line that$/),
      "                will need to wrap on the narrower terminal",
      "                of b ok"
    ])
    // a sent line too (its mark goes on the first row); without the terminal's measure (output to a file or a
    // pipe) one line, as before
    expect(renderEvent(event({ _tag: "sent", id: "1", text }), plain, 60, { width: stringWidth })).toHaveLength(3)
    expect(renderEvent(event({ _tag: "message", id: "1", text }), plain, 60)).toHaveLength(1)
    // there a sent line also carries the id that its later "Delivered" line names, its text where received
    // texts start
    expect(renderEvent(event({ _tag: "sent", id: "7", text: "hi" }), plain)).toEqual([expect.stringMatching(/^Sent \d\d:\d\d #7 {3}hi$/)])
    expect(renderEvent(event({ _tag: "message", id: "7", text: "hi" }), plain)[0]!.indexOf("hi")).toBe(16)
    // sentences with a stamp hang under the stamp
    const refused = renderEvent(event({ _tag: "error", code: "SendRefused", message: text, line: 7 }), plain, 60, { width: stringWidth })
    expect(refused[1]).toMatch(/^ {11}\S/)
    // the input's line it is about, counted from 1 as the JSON event's `line`
    expect(refused[0]).toMatch(/^\[\d\d:\d\d:\d\d\] Line 7: /)
    // so do the connection's own lines (an IPv6 address on a phone's terminal was broken by the terminal)
    const connecting = renderEvent(event({ _tag: "connecting", address: "2001:db8::1", port: 8000 }), plain, 40, { width: stringWidth })
    expect(connecting).toEqual([expect.stringMatching(/^\[\d\d:\d\d:\d\d\] Connecting to$/), "           [2001:db8::1]:8000 ..."])
    const listening = renderEvent(event({ _tag: "listening", address: "2001:db8::1234:5678", port: 8000 }), plain, 40, { width: stringWidth })
    expect(listening[1]).toBe("           [2001:db8::1234:5678]:8000")
    expect(renderEvent(event({ _tag: "connecting", address: "2001:db8::1", port: 8000 }), plain, 40)).toHaveLength(1)
  })

  it("the banner is folded at its parts on a narrow terminal, not broken anywhere by it", () => {
    const b = { version: "0.1.0", protocol: "v2", mode: "auto", local: "0.0.0.0:9312", target: "127.0.0.1:9" }
    expect(bannerLines(b, plain, 80)).toEqual([
      "p2pchat 0.1.0  peer-to-peer, end-to-end encrypted chat  (v2 protocol)",
      "  local  0.0.0.0:9312   target  127.0.0.1:9   mode auto"
    ])
    // at 60 and 40 columns the terminal broke them as "(v2" / "protocol)" and "mod" / "e server"
    expect(bannerLines(b, plain, 60)).toEqual([
      "p2pchat 0.1.0  peer-to-peer, end-to-end encrypted chat",
      "(v2 protocol)",
      "  local  0.0.0.0:9312   target  127.0.0.1:9   mode auto"
    ])
    expect(bannerLines({ ...b, local: undefined, mode: "client" }, plain, 40)).toEqual([
      "p2pchat 0.1.0",
      "peer-to-peer, end-to-end encrypted chat",
      "(v2 protocol)",
      "  local  (none: connecting only)",
      "  target  127.0.0.1:9   mode client"
    ])
    // the title's name styled, its width not counted with the style's escapes
    expect(bannerLines(b, colors, 80)[0]).toBe(`${colors.bold("p2pchat")} 0.1.0  peer-to-peer, end-to-end encrypted chat  (v2 protocol)`)
  })

  // "hello, the weather is very good today", as ICU cuts it into words
  const THAI_WORDS = ["สวัสดี", "ครับ", "วัน", "นี้", "อากาศ", "ดี", "มาก"]

  it("Chinese, Japanese and Thai, which put no spaces between words, fold within the width under the label (they went to the terminal whole)", () => {
    const label = "Received 12:00  "
    for (const text of ["日本語の文章はスペースなしで続きます。「折り返し」を確認しましょう、ラーメン。", THAI_WORDS.join("").repeat(3), "中文句子之间没有空格所以终端会在任何地方断开它们的文字"]) {
      const rows = hang(label, [[text, (s) => s]], 40, stringWidth)
      expect(rows.length).toBeGreaterThan(1)
      for (const row of rows) expect(stringWidth(row)).toBeLessThanOrEqual(40)
      expect(rows.map((r, i) => (i === 0 ? r.slice(label.length) : r.trimStart())).join("")).toBe(text)
      // kinsoku: no row begins with closing punctuation
      for (const row of rows.slice(1)) expect(row.trimStart()[0]).not.toMatch(/[、。」]/u)
    }
  })

  it("text hangs under its label from 24 columns of room; with less it stays one line for the terminal to wrap", () => {
    const label = "Received 12:00  "
    const text = "word ".repeat(30).trim()
    expect(hang(label, [[text, (s) => s]], label.length + 24, stringWidth).length).toBeGreaterThan(1)
    expect(hang(label, [[text, (s) => s]], label.length + 23, stringWidth)).toEqual([label + text])
  })

  it("a row never ends with an opening bracket, nor a row starts with a closing one: the bracket goes with its word", () => {
    const label = "Received 12:00  "
    // 11 kana (22 columns) leave room for the opening bracket alone on the first row of 24
    const rows = hang(label, [["あ".repeat(11) + "「かぎ」", (s) => s]], label.length + 24, stringWidth)
    expect(rows).toEqual([label + "あ".repeat(11), " ".repeat(label.length) + "「かぎ」"])
    // a row may end beside an ideograph on either side, Latin letters after it staying one word
    expect(breakable("漢字abc")).toEqual(["漢", "字", "abc"])
    expect(breakable("abc漢字")).toEqual(["abc", "漢", "字"])
  })

  it("folding: rows within the width, every word kept in order, wide characters measured, long words whole", () => {
    const word = fc.oneof(
      fc.stringMatching(/^[a-z]{1,12}$/),
      fc.constantFrom("漢字", "😀", "e\u0301", "https://example.com/a/long/path/that/fits/nowhere/at/all?x=1", "日本語の文章です。", "「かぎ括弧」と", "ラーメン、ちょっと", THAI_WORDS.join(""))
    )
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 40 }), fc.integer({ min: 20, max: 120 }), (words, columns) => {
        const label = "Received 12:00  "
        const rows = hang(label, [[words.join(" "), colors.bold]], columns, stringWidth)
        const texts = rows.map((r) => withoutColour(r))
        expect(texts[0]!.startsWith(label)).toBe(true)
        const owns = texts.map((t, i) => (i === 0 ? t.slice(label.length) : t.trimStart()))
        // the words, in order, nothing lost or added: each row goes on where the one before ended, after the space
        // it broke at, or inside a word beside a Chinese or Japanese character
        const text = words.join(" ")
        let at = 0
        const brokeInWord: Array<boolean> = []
        for (const own of owns) {
          const atSpace = text[at] === " "
          if (atSpace) at++
          brokeInWord.push(at > 0 && !atSpace)
          if (at > 0 && !atSpace) {
            expect(text[at - 1]! + own[0]!).toMatch(/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff01-\uff60\p{Script=Thai}]/u)
            // Thai between its words, never inside one
            if (/\p{Script=Thai}/u.test(text[at - 1]!)) expect(THAI_WORDS.some((w) => text.slice(0, at).endsWith(w))).toBe(true)
            // kinsoku: no row starts with closing punctuation, a small kana or the prolonged sound mark, none ends opening
            expect(own[0]).not.toMatch(/[、。」ょっーャ]/u)
            expect(text[at - 1]).not.toBe("「")
          }
          expect(text.slice(at, at + own.length)).toBe(own)
          at += own.length
        }
        expect(at).toBe(text.length)
        // a terminal too narrow to hang text under the label keeps one line, for the terminal to wrap
        if (columns - label.length < 24) {
          expect(rows).toHaveLength(1)
          return
        }
        for (const [i, t] of texts.entries()) {
          if (i > 0) expect(t).toMatch(/^ {16}\S/)
          // over the width only as one word that fits no row
          if (stringWidth(t) > columns) expect(breakable(owns[i]!)).toHaveLength(1)
          // each row opens and closes its own style
          if (i > 0) expect(rows[i]).toMatch(/^ {16}\x1b\[1m.*\x1b\[22m$/)
        }
        // and no row could have taken the next row's first word, or the first part of it a row may end after
        for (let i = 0; i + 1 < texts.length; i++) {
          const next = breakable(owns[i + 1]!.split(" ")[0]!)[0]!
          expect(stringWidth(texts[i]!) + (brokeInWord[i + 1] ? 0 : 1) + stringWidth(next)).toBeGreaterThan(columns)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("at a terminal, messages not confirmed as delivered are listed by their starts, quoted (a person sees no ids)", () => {
    const texts = new Map([
      ["7", quoteSent("see you at five")],
      ["8", quoteSent("a longer message that is cut after thirty characters")],
      ["9", quoteSent("\x1b[2Jwiped 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀")]
    ])
    const terminal = { width: stringWidth, sentText: (id: string) => texts.get(id) }
    const lost = event({ _tag: "disconnected", reason: "connection lost", undelivered: ["7", "8", "9"] })
    // thirty characters each (an escape is one, shown made visible; an emoji is one, never cut in half)
    expect(renderEvent(lost, plain, 200, terminal)[1]).toBe(
      `  Not confirmed as delivered: 3 message(s): "see you at five", "a longer message that is cut a…", "\\x1b[2Jwiped ${"😀".repeat(20)}…".`
    )
    // one not known (not sent from this view): by ids, as without a terminal
    const other = event({ _tag: "disconnected", reason: "connection lost", undelivered: ["7", "10"] })
    expect(renderEvent(other, plain, 200, terminal)[1]).toBe("  Not confirmed as delivered: 2 message(s) (7, 10).")
    // a long list is cut, what is left counted
    const many = Array.from({ length: 500 }, (_, i) => String(i + 1))
    const all = { width: stringWidth, sentText: (id: string) => quoteSent(`message number ${id}`) }
    const listed = renderEvent(event({ _tag: "disconnected", reason: "left", undelivered: many }), plain, 1000, all)[1]!
    expect(listed).toMatch(/^ {2}Not confirmed as delivered: 500 message\(s\): "message number 1", "message number 2", .*, … \d+ more\.$/)
    expect(listed.length).toBeLessThan(300)
  })

  it("measuring a long line does not go through it a character at a time (a 64 KiB line took 1.5 s, holding the chat)", () => {
    let calls = 0
    const counted = (text: string) => (calls++, stringWidth(text))
    // printable ASCII: a column a character, no measure asked
    expect(rowsOn("x".repeat(65_000), 80, counted)).toBe(813)
    expect(rowsOn(`\x1b[1m${"y".repeat(160)}\x1b[22m`, 80, counted)).toBe(2)
    expect(calls).toBe(0)
    // anything else: each character measured once, then remembered
    const cjk = Array.from({ length: 20_000 }, (_, i) => String.fromCodePoint(0x4e00 + (i % 100))).join("")
    const cheap = cheapWidth(counted)
    expect(rowsOn(cjk, 80, cheap)).toBe(500)
    expect(calls).toBe(100)
  })

  it("the cheap measure asks nothing of printable ASCII, and remembers at most 4,096 characters' widths", () => {
    let calls = 0
    const counted = (text: string) => (calls++, stringWidth(text))
    const cheap = cheapWidth(counted)
    expect(cheap("x".repeat(65_000))).toBe(65_000)
    expect(cheap(colors.bold("plain words"))).toBe(11)
    expect(calls).toBe(0)
    // 4,096 different characters measured once each; the 4,097th empties what is remembered, so the first is
    // measured again (a peer sending every character there is fills no more than that)
    const han = (i: number) => String.fromCodePoint(0x4e00 + i)
    for (let i = 0; i < 4_096; i++) expect(cheap(han(i))).toBe(2)
    expect(calls).toBe(4_096)
    expect(cheap(han(0))).toBe(2)
    expect(calls).toBe(4_096)
    cheap(han(4_096))
    expect(calls).toBe(4_097)
    cheap(han(0))
    expect(calls).toBe(4_098)
  })

  it("the cheap measure gives the rows the terminal's measure gives, character by character", () => {
    const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" })
    // the terminal's way: every grapheme measured, a wide one that does not fit going to the next row
    const reference = (line: string, columns: number) => {
      let rows = 1
      let column = 0
      for (const { segment } of graphemes.segment(withoutColour(line))) {
        const w = stringWidth(segment)
        if (column + w > columns) (rows++, (column = 0))
        column += w
      }
      return rows
    }
    const piece = fc.oneof(
      fc.stringMatching(/^[ -~]{0,30}$/),
      fc.constantFrom("漢字", "😀", "👩‍👩‍👧", "e\u0301", "\\x1b", "ｶﾀｶﾅ", "\u00e9", "שלום", "\u1100\u1161", "한국", "🇫🇷", "👍🏽", "1\ufe0f\u20e3", "\u{1f1e6}", "ﷺ")
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 20, max: 120 }), (pieces, columns) => {
        const line = pieces.join("")
        expect(rowsOn(line, columns, cheapWidth(stringWidth))).toBe(reference(line, columns))
        // and a long text's width, summed from its clusters, is the one the terminal's measure gives, our
        // colours taking no column
        expect(cheapWidth(stringWidth)(line)).toBe(stringWidth(line))
        expect(cheapWidth(stringWidth)(`${colors.green("Received 12:00")}  ${colors.bold(line)}`)).toBe(stringWidth(line) + 16)
      }),
      { numRuns: 300 }
    )
  })

  it("times are shown in the reader's time zone (events carry UTC, which read an hour or more off)", () => {
    const zone = process.env.TZ
    try {
      process.env.TZ = "Asia/Kolkata" // UTC+05:30, no daylight saving
      expect(localTime("2026-11-26T14:22:47.599Z")).toBe("19:52:47")
      const sent = renderEvent(event({ _tag: "sent", id: "1", text: "hi" }, "2026-11-26T23:59:30.000Z"), plain)
      expect(sent[0]).toMatch(/^Sent 05:29 /)
      process.env.TZ = "America/New_York" // UTC-05:00 in November
      expect(localTime("2026-11-26T14:22:48.000Z")).toBe("09:22:48")
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })

  it("undelivered ids are shown as ranges, and a long list is cut with what is left counted", () => {
    expect(idList(["3"])).toBe("3")
    // past 2^53 numbers are not exact: such ids are listed one by one, never made a range that skips one
    expect(idList(["9007199254740991", "9007199254740993"])).toBe("9007199254740991, 9007199254740993")
    expect(idList(["999999999999998", "999999999999999"])).toBe("999999999999998-999999999999999")
    expect(idList(["1", "2", "3", "5", "7", "8"])).toBe("1-3, 5, 7-8")
    // 20,000 ids were one line of 128,892 characters
    expect(idList(Array.from({ length: 20_000 }, (_, i) => String(i + 1)))).toBe("1-20000")
    const scattered = Array.from({ length: 1_000 }, (_, i) => String(i * 2 + 1))
    const shown = idList(scattered)
    expect(shown.length).toBeLessThan(230)
    const listed = shown.split(", ").filter((p) => /^\d+$/.test(p)).length
    expect(shown).toMatch(new RegExp(`, … ${1_000 - listed} more$`))
    expectCutAt200(shown, scattered[listed]!)
    const line = renderEvent(event({ _tag: "disconnected", reason: "connection lost", undelivered: scattered }), plain).join("\n")
    expect(line).toContain(`Not confirmed as delivered: 1000 message(s) (1, 3, 5, `)
  })

  it("undelivered messages at a terminal are listed by their quoted starts, cut at 200 characters with what is left counted", () => {
    const quotes = new Map(Array.from({ length: 60 }, (_, i) => [String(i + 1), quoteSent(`m${i + 1}`)]))
    const all = [...quotes.keys()]
    const shown = unconfirmedList(all, (id) => quotes.get(id))!
    const listed = shown.split('", "').length
    expect(shown).toMatch(new RegExp(`^"m1", "m2", .*, … ${60 - listed} more$`))
    expectCutAt200(shown, quotes.get(String(listed + 1))!)
    // one the view does not know (sent before it started, say): the ids are listed instead
    expect(unconfirmedList(["1", "61", "2"], (id) => quotes.get(id))).toBeUndefined()
    expect(unconfirmedList(["1", "2"], (id) => quotes.get(id))).toBe('"m1", "m2"')
  })

  it("fingerprints are two rows of eight 4-digit groups, for reading aloud", () => {
    const hex = "0123456789abcdef".repeat(4)
    expect(groupFingerprint(hex)).toEqual([
      "0123 4567 89ab cdef 0123 4567 89ab cdef",
      "0123 4567 89ab cdef 0123 4567 89ab cdef"
    ])
  })

  it("the handshake shows both fingerprints and the safety code", () => {
    const lines = renderEvent(
      event({ _tag: "handshake", protocol: "v2", localFingerprint: "a".repeat(64), peerFingerprint: "b".repeat(64), sas: "1234 5678", suite: "s" }),
      plain
    ).join("\n")
    expect(lines).toContain("you   aaaa aaaa")
    expect(lines).toContain("peer  bbbb bbbb")
    expect(lines).toContain("Safety code: 1234 5678")
  })

  it("the handshake fits an 80-column terminal with either protocol's suite, all of it shown", () => {
    for (const [protocol, suite] of [["v2", V2Protocol.SUITE], ["seed", SeedProtocol.SUITE]] as const) {
      const lines = renderEvent(
        event({ _tag: "handshake", protocol, localFingerprint: "a".repeat(64), peerFingerprint: "b".repeat(64), sas: "1234 5678", suite }),
        plain
      )
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(80)
      expect(lines.join(" ").replace(/ +/g, " ")).toContain(suite)
    }
    // a phone's terminal: four groups to a row, sentences folded, nothing broken by the terminal
    const narrow = renderEvent(
      event({ _tag: "handshake", protocol: "v2", localFingerprint: "a".repeat(64), peerFingerprint: "b".repeat(64), sas: "1234 5678", suite: V2Protocol.SUITE }),
      plain,
      40
    )
    for (const line of narrow) expect(line.length).toBeLessThanOrEqual(40)
    expect(narrow.filter((line) => /^ {4}(you |peer| {4})  [ab]{4} [ab]{4} [ab]{4} [ab]{4}$/.test(line))).toHaveLength(8)
    expect(narrow.join(" ").replace(/ +/g, " ")).toContain("Read it aloud with your peer: if the codes differ, someone is in the middle.")
    expect(fold("aaa bbb ccc", "  ", 9)).toEqual(["  aaa bbb", "  ccc"])
    expect(fold("a-word-longer-than-the-width", "  ", 9)).toEqual(["  a-word-longer-than-the-width"])
  })

  it("received text is emphasised and its control characters are shown, not obeyed", () => {
    const [line] = renderEvent(event({ _tag: "message", id: "1", text: "hi\x1b[2J\u202e" }), colors)
    expect(line).toContain("\\x1b[2J\\u202e")
    expect(line).toContain(colors.bold("hi\\x1b[2J\\u202e"))
    expect(renderEvent(event({ _tag: "message", id: "1", text: "x" }), plain)[0]).toMatch(/^Received \d\d:\d\d {2}x$/)
  })

  it("a text's tabs are spaces to the next stop, in a terminal's folded rows and in one line for a file", () => {
    const text = "def f():\n\treturn 1\t# one"
    const shown = `def f():\\n${" ".repeat(6)}return 1${" ".repeat(8)}# one`
    expect(renderEvent(event({ _tag: "message", id: "1", text }), plain)[0]).toMatch(/^Received \d\d:\d\d {2}\S/)
    expect(renderEvent(event({ _tag: "message", id: "1", text }), plain)[0]!.endsWith(`  ${shown}`)).toBe(true)
    expect(renderEvent(event({ _tag: "sent", id: "7", text }), plain)[0]).toMatch(/^Sent \d\d:\d\d #7 {3}\S/)
    expect(renderEvent(event({ _tag: "sent", id: "7", text }), plain)[0]!.endsWith(`   ${shown}`)).toBe(true)
    expect(renderEvent(event({ _tag: "sent", id: "7", text }), plain, 80, { width: stringWidth })[0]!.endsWith(`      ${shown}`)).toBe(true)
    const rows = renderEvent(event({ _tag: "message", id: "1", text: `${"word ".repeat(8)}\tend` }), plain, 40, { width: stringWidth })
    expect(rows.join("\n")).not.toContain("\t")
    expect(rows.join("\n")).not.toContain("\\t")
    for (const row of rows) expect(row.length).toBeLessThanOrEqual(40)
  })

  it("in a terminal a tab's stop counts a wide character's two columns; in a file, a character each", () => {
    const text = "名前\t値\tx"
    // the terminal: 名前 takes four columns, so four spaces to 8; 値 two more, so six to 16
    const [row] = renderEvent(event({ _tag: "message", id: "1", text }), plain, 80, { width: stringWidth })
    expect(row!.endsWith(`  名前${" ".repeat(4)}値${" ".repeat(6)}x`)).toBe(true)
    expect(stringWidth(row!.slice(row!.indexOf("名前")))).toBe(17)
    const [sent] = renderEvent(event({ _tag: "sent", id: "7", text }), plain, 80, { width: stringWidth })
    expect(sent!.endsWith(`  名前${" ".repeat(4)}値${" ".repeat(6)}x`)).toBe(true)
    // a file has no terminal to measure for: two characters, six spaces; one, seven
    const [line] = renderEvent(event({ _tag: "message", id: "1", text }), plain)
    expect(line!.endsWith(`  名前${" ".repeat(6)}値${" ".repeat(7)}x`)).toBe(true)
  })

  it("every sentence that may carry a peer's or a stranger's bytes shows its control characters, not obeys them", () => {
    const hostile = "x\x1b[2J\u202e\x07"
    const shown = "x\\x1b[2J\\u202e\\x07"
    const lines = [
      // a stranger that connected to our listener, and our own attempts' failure, as TLS or a handshake put them
      event({ _tag: "rejected", peer: "10.0.0.9:5000", reason: hostile, role: "listener" }),
      event({ _tag: "rejected", peer: "peer.lan:8000", reason: hostile, role: "connector" }),
      // the name of a kind of message the peer made up
      event({ _tag: "unsupported", kind: hostile }),
      event({ _tag: "error", code: "HandshakeFailed", message: hostile }),
      event({ _tag: "disconnected", reason: "connection lost", undelivered: [hostile] })
    ].flatMap((e) => renderEvent(e, colors))
    expect(lines).toHaveLength(6)
    for (const line of lines.filter((l) => !l.includes("Disconnected."))) {
      expect(withoutColour(line)).toContain(shown)
      expect(withoutColour(line)).not.toMatch(/[\x00-\x08\x0b-\x1f\u202e]/)
    }
  })

  it("the end of a chat: one line for how it ended, none of its own when the peer left (\"Your peer left\" says it)", () => {
    const ended = (reason: string) =>
      renderEvent(event({ _tag: "disconnected", reason, undelivered: [] }), plain).map((line) => line.replace(/^\[\d\d:\d\d:\d\d\] /, ""))
    expect(ended("left")).toEqual(["You left the chat."])
    expect(ended("peer left")).toEqual([])
    expect(ended("connection lost")).toEqual(["Disconnected."])
  })

  it("repeated connection attempts to one target show once, then once every 30 s", () => {
    const keep = dropRepeatedConnecting()
    const attempt = (port: number): ChatEvent => event({ _tag: "connecting", address: "127.0.0.1", port })
    expect([attempt(1), attempt(1), attempt(1), attempt(2), attempt(1)].map(keep)).toEqual([true, false, false, true, true])
    expect(keep(event({ _tag: "listening", address: "127.0.0.1", port: 1 }))).toBe(true)
    // a wait that goes on is seen to go on: one line every 30 s of retries (it was one line, then nothing)
    const still = dropRepeatedConnecting()
    const at = (ms: number): ChatEvent =>
      event({ _tag: "connecting", address: "127.0.0.1", port: 1 }, new Date(Date.UTC(2026, 10, 26, 15, 0, 0, ms)).toISOString())
    expect([0, 400, 29_900, 30_000, 30_400, 59_900, 60_100].map((ms) => still(at(ms)))).toEqual([true, false, false, true, false, false, true])
    // a clock set back an hour between attempts: the next is shown, and the 30 s count from it (it was an hour
    // of silence)
    const setBack = dropRepeatedConnecting()
    expect([0, 400, -3_600_000, -3_599_600, -3_570_000].map((ms) => setBack(at(ms)))).toEqual([true, false, true, false, true])
  })

  it("colour is off when NO_COLOR is set (not empty), output is not a terminal, or the terminal is dumb", () => {
    const tty = { isTTY: true } as NodeJS.WriteStream
    const saved = { NO_COLOR: process.env.NO_COLOR, TERM: process.env.TERM }
    try {
      delete process.env.NO_COLOR
      process.env.TERM = "xterm-256color"
      expect(styleFor(tty)).toBe(colors)
      expect(styleFor({ isTTY: false } as NodeJS.WriteStream)).toBe(plain)
      process.env.NO_COLOR = "1"
      expect(styleFor(tty)).toBe(plain)
      // no-color.org: set to the empty string, it asks for nothing
      process.env.NO_COLOR = ""
      expect(styleFor(tty)).toBe(colors)
      process.env.TERM = "dumb"
      expect(styleFor(tty)).toBe(plain)
    } finally {
      for (const [name, value] of Object.entries(saved))
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
    }
  })

  it("colour is taken off whole, parameters and all: a pipe or a file gets the text alone", () => {
    expect(withoutColour(`${colors.bold(colors.green("ok"))} \x1b[1;31mred\x1b[0m \x1b[mreset`)).toBe("ok red reset")
    // what is not a colour stays (a peer's escapes are shown escaped before they get here, see text.test.ts)
    expect(withoutColour("\x1b[2J \x1b7")).toBe("\x1b[2J \x1b7")
  })

  it("the handshake's rows: eight groups to a row from the width they take (49 columns), never wider than 80", () => {
    const e = event({ _tag: "handshake", protocol: "v2", localFingerprint: "a".repeat(64), peerFingerprint: "b".repeat(64), sas: "1234 5678", suite: "s" }) as Extract<
      ChatEvent,
      { _tag: "handshake" }
    >
    const rowsOfGroups = (columns: number) => verification(e, plain, columns).filter((line) => /^ {4}(you |peer| {4})  [ab]{4}/.test(line))
    expect(rowsOfGroups(49)).toHaveLength(4)
    for (const line of rowsOfGroups(49)) expect(line.length).toBe(49)
    expect(rowsOfGroups(48)).toHaveLength(8)
    // a wide terminal: the sentences still fold at 80, for the eye to follow
    const wide = verification(e, plain, 200)
    expect(Math.max(...wide.map((line) => line.length))).toBeLessThanOrEqual(80)
    expect(wide.join(" ").replace(/ +/g, " ")).toContain("Read it aloud with your peer: if the codes differ, someone is in the middle.")
  })

  it("the banner's hint is in yellow, folded within the width", () => {
    const b = { version: "0.1.0", protocol: "v2", mode: "server", local: "127.0.0.1:8000", target: undefined }
    const hint = "Both peers are on this machine: give the other one another port with -p and -r."
    const lines = bannerLines({ ...b, hint }, colors, 60)
    const hinted = lines.slice(bannerLines(b, colors, 60).length)
    expect(hinted.length).toBeGreaterThan(1)
    for (const line of hinted) {
      expect(line).toMatch(/^\x1b\[33m {2}\S.*\x1b\[39m$/)
      expect(withoutColour(line).length).toBeLessThanOrEqual(60)
    }
    expect(hinted.map((line) => withoutColour(line).trim()).join(" ")).toBe(hint)
  })

  it("the hint after the handshake is one line where it fits (53 columns), folded where it does not", () => {
    expect(typeHint(plain, 53)).toEqual(["  Type a message and press Enter. /help for commands."])
    expect(typeHint(plain, 52)).toEqual(["  Type a message and press Enter.", "  /help for commands."])
    expect(typeHint(colors, 80)).toEqual([`  Type a message and press Enter. ${colors.dim("/help for commands.")}`])
  })
})
