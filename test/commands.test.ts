import { describe, expect, it } from "vitest"
import { HELP, readPasted, readTyped, unknownCommand } from "../src/cli/commands.js"
import { plain, verification } from "../src/cli/render.js"
import { type ChatEvent, event } from "../src/domain/events.js"
import { answer } from "../src/cli/view.js"

describe("a line typed at a terminal", () => {
  it.each([
    ["", { _tag: "nothing" }],
    ["   \t", { _tag: "nothing" }],
    ["hello", { _tag: "send", text: "hello" }],
    // only a line that starts with a slash is a command: with a space before it, it is text
    [" /quit", { _tag: "send", text: " /quit" }],
    ["/quit", { _tag: "quit" }],
    ["/exit", { _tag: "quit" }],
    // spaces around a command are not part of it (readline keeps a trailing space typed by mistake)
    ["/quit  ", { _tag: "quit" }],
    ["/exit ", { _tag: "quit" }],
    ["/help", { _tag: "help" }],
    ["/verify ", { _tag: "verify" }],
    ["/HELP", { _tag: "unknown", command: "/HELP" }],
    ["/quit now", { _tag: "unknown", command: "/quit now" }],
    ["/etc/hosts ", { _tag: "unknown", command: "/etc/hosts" }],
    // two slashes send the line from its second one: the way to send a line that starts with one
    ["//quit", { _tag: "send", text: "/quit" }],
    ["// ", { _tag: "send", text: "/ " }]
  ])("%j is %j", (line, typed) => {
    expect(readTyped(line)).toEqual(typed)
  })
})

describe("a line that ended inside a paste", () => {
  it.each(["/quit", "//x", "/etc/hosts has a new line", " leading and trailing ", "plain text"])("%j is sent word for word", (line) => {
    expect(readPasted(line)).toEqual({ _tag: "send", text: line })
  })

  it.each(["", "  ", "\t"])("%j, blank, is nothing", (line) => {
    expect(readPasted(line)).toEqual({ _tag: "nothing" })
  })
})

describe("the answer to /help and to an unknown command, at a terminal", () => {
  const width = (text: string) => [...text].length
  const at = (columns: number) => ({ columns, width })
  // a row's words, without the indent of the rows it folds to
  const words = (rows: ReadonlyArray<string>) => rows.join(" ").split(/ +/).filter((w) => w !== "")

  it("on a terminal wide enough, /help is its lines unchanged; without one (a pipe, a file) too", () => {
    expect(answer({ _tag: "help" }, undefined, plain, at(80))).toEqual(HELP)
    expect(answer({ _tag: "help" }, undefined, plain, at(77))).toEqual(HELP)
    expect(answer({ _tag: "help" }, undefined, plain)).toEqual(HELP)
    expect(HELP[1]).toBe("  /quit     leave the chat (your peer is told); Ctrl-C and Ctrl-D do the same")
  })

  it.each([45, 50, 60, 76])("at %i columns, /help's descriptions fold at words under where they start", (columns) => {
    const rows = answer({ _tag: "help" }, undefined, plain, at(columns))
    expect(rows.length).toBeGreaterThan(HELP.length)
    for (const row of rows) expect(width(row)).toBeLessThanOrEqual(columns)
    // nothing lost or broken: the same words in the same order
    expect(words(rows)).toEqual(words(HELP))
    // a command's row starts with it, a folded row under the description's first word
    for (const row of rows.slice(1)) expect(row).toMatch(/^(?: {2}\/\S+ +\S| {12}\S)/)
    expect(rows.filter((row) => /^ {2}\//.test(row))).toHaveLength(HELP.length - 1)
  })

  it("/verify's answer is folded to the terminal (the fingerprints' groups), and said where there is no session yet", () => {
    const handshake = event({ _tag: "handshake", protocol: "v2", localFingerprint: "a".repeat(64), peerFingerprint: "b".repeat(64), sas: "1234 5678", suite: "s" }) as Extract<
      ChatEvent,
      { _tag: "handshake" }
    >
    const narrow = answer({ _tag: "verify" }, handshake, plain, at(30))
    expect(narrow).toEqual(verification(handshake, plain, 30))
    expect(narrow).not.toEqual(verification(handshake, plain))
    expect(answer({ _tag: "verify" }, undefined, plain, at(30))).toEqual(["No session yet."])
  })

  it("an unknown command's answer folds at words, a long typed command left whole", () => {
    const long = `/${"x".repeat(50)}`
    const rows = answer({ _tag: "unknown", command: long }, undefined, plain, at(40))
    // the command, wider than the terminal, is a row of its own for the terminal to wrap
    expect(rows).toContain(`${long};`)
    for (const row of rows.filter((row) => row !== `${long};`)) expect(width(row)).toBeLessThanOrEqual(40)
    expect(rows.join(" ")).toBe(unknownCommand(long))
    expect(answer({ _tag: "unknown", command: "/nope" }, undefined, plain, at(40))).toEqual([
      "Unknown command /nope; /help lists them",
      "(//text sends a line starting with /)."
    ])
    // one line where nothing is folded, as before
    expect(answer({ _tag: "unknown", command: "/nope" }, undefined, plain)).toEqual([unknownCommand("/nope")])
  })
})
