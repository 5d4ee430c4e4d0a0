import { describe, expect, it } from "vitest"
import { readPasted, readTyped } from "../src/cli/commands.js"

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
