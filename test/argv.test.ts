import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { HelpDoc, Options } from "@effect/cli"
import { explainArgs } from "../src/cli/argv.js"
import { FLAGS, helpText, options } from "../src/cli/flags.js"
import { CLI } from "./support/cli.js"

describe("a refused command line, said with the flag it is about", () => {
  const cases: Array<[ReadonlyArray<string>, string]> = [
    [["-p", "abc"], "-p/--port abc is not a port: give a whole number from 0 to 65535."],
    [["--port=8k"], "-p/--port 8k is not a port: give a whole number from 0 to 65535."],
    [["-p", ""], '-p/--port "" is not a port: give a whole number from 0 to 65535.'],
    [["-r", "1.5"], "-r/--remote 1.5 is not a port: give a whole number from 1 to 65535."],
    // a negative number is -r's value, not a flag after it (then -r would need a value)
    [["-r", "-5"], "-r/--remote -5 is not a port: give a whole number from 1 to 65535."],
    [["-p", "0x50"], "-p/--port 0x50 is not a port: give a whole number from 0 to 65535."],
    [["-m", "client"], "-m/--mode client is not a mode: use 0 (auto), 1 (client) or 2 (server)."],
    [["--heartbeat", "often"], "--heartbeat often is not a number of seconds."],
    [["--wait", "0x10"], "--wait 0x10 is not a number of seconds."],
    [["--wait", " 5"], '--wait " 5" is not a number of seconds.'],
    [["-t", "10.0.0.5", "-p"], "-p/--port needs a value: a port, a whole number from 0 to 65535."],
    // a flag where the value should be: that value is missing, not "-m"
    [["-p", "-m", "1"], "-p/--port needs a value: a port, a whole number from 0 to 65535."],
    [["--json", "-t"], "-t/--target needs a value: the peer's address, ip[:port]."],
    [["-x"], '-x is not an option of p2pchat; see p2pchat --help.'],
    [["--verbose"], "--verbose is not an option of p2pchat; see p2pchat --help."],
    [["-p8000"], "Write -p8000 as -p 8000, with a space."],
    [["-t=10.0.0.5"], "Write -t=10.0.0.5 as -t 10.0.0.5, with a space."],
    [["10.0.0.5:9000"], '"10.0.0.5:9000" is not an option: to name the peer, write -t 10.0.0.5:9000.'],
    // with -t given, a stray word is not taken for the peer
    [["-t", "10.0.0.5", "hello"], '"hello" is not an option; see p2pchat --help.'],
    // taken for the peer's name: "to name the peer, write -t help"
    [["help"], '"help" is not an option; for the options: p2pchat --help.'],
    [["-help"], '"-help" is not an option; for the options: p2pchat --help.'],
    [["version"], '"version" is not an option; for the version: p2pchat --version.'],
    [["-m", "1", "-m", "2"], "-m/--mode is given twice; give it once."],
    [["--json=yes", "--json"], "--json takes no value."],
    // a negative decimal is a value too: the problem is what follows it
    [["--wait", "-.5", "-x"], "-x is not an option of p2pchat; see p2pchat --help."],
    // --target= names the peer as -t does
    [["--target=10.0.0.5", "hello"], '"hello" is not an option; see p2pchat --help.'],
    // a switch takes no value joined to it either: not "write -hx as -h x"
    [["-hx"], "-hx is not an option of p2pchat; see p2pchat --help."]
  ]
  it("says nothing of what comes after --, which no flag is", () => {
    expect(explainArgs(["-m", "1", "--", "-x", "--port"])).toBeUndefined()
  })
  for (const [args, sentence] of cases)
    it(args.join(" "), () => {
      expect(explainArgs(args)).toBe(sentence)
    })

  it("finds nothing to say about a line that is fine", () => {
    expect(explainArgs(["-i", "::1", "-p", "0", "-t", "[::1]:9000", "-m", "1", "--json", "--heartbeat", "0.5", "--wait=3"])).toBeUndefined()
  })

  it("@effect/cli parses exactly the options the table lists: the table that --help and these sentences come from", () => {
    // eslint-disable-next-line no-control-regex
    const parsed = HelpDoc.toAnsiText(Options.getHelp(Options.all(options))).replace(/\x1b\[[0-9;]*m/g, "")
    const listed = [...parsed.matchAll(/^\((-\w), --([\w-]+) \w+\)$|^--([\w-]+)(?: \w+)?$/gm)].map((m) =>
      m[1] === undefined ? { long: m[3] } : { short: m[1].slice(1), long: m[2] }
    )
    expect(listed.length).toBeGreaterThan(10)
    const ours = FLAGS.filter((f) => !["help", "version", "wizard", "completions", "log-level"].includes(f.long))
    expect(new Set(listed.map((f) => `${f.short ?? ""}/${f.long}`))).toEqual(new Set(ours.map((f) => `${f.short ?? ""}/${f.long}`)))
    // its own help texts (its built-ins could show them) have plain spaces, as ours do
    expect(parsed).toContain("--stay </dev/null")
  })

  it("--help lists every flag, its value and what it does, folded to the width, and not @effect/cli's built-ins", () => {
    // @effect/cli's own help took 118 lines: each flag with "A user-defined piece of text." and "This setting is optional."
    const help = execFileSync(process.execPath, [CLI, "--help"], { env: { ...process.env, NO_COLOR: "1" }, encoding: "utf8" })
    for (const line of help.split("\n")) expect(line.length).toBeLessThanOrEqual(80)
    expect(help).not.toMatch(/user-defined|This setting is optional|--wizard|--completions|--log-level/)
    // one entry a flag: its label, then its text from column 26 (on the label's row when the label leaves room)
    const entries = new Map<string, string>()
    let label: string | undefined
    for (const line of help.slice(help.indexOf("Options:\n") + 9, help.indexOf("\n\n", help.indexOf("Options:"))).split("\n")) {
      const entry = /^ {2}(-\w, | {4})(--\S+(?: \S+)?)(?: {2,}(.*))?$/.exec(line)
      if (entry !== null) {
        label = `${entry[1]!.trim()} ${entry[2]}`.trim()
        entries.set(label, entry[3] ?? "")
      } else {
        expect(line).toMatch(/^ {26}\S/)
        entries.set(label!, `${entries.get(label!)} ${line.trim()}`.trim())
      }
    }
    const listed = FLAGS.filter((f) => f.help !== undefined)
    // a no-break space in a text holds a command together, and is shown as a space
    expect(help).not.toContain("\u00a0")
    expect(entries).toEqual(
      new Map(
        listed.map((f) => [`${f.short === undefined ? "" : `-${f.short}, `}--${f.long}${f.value === undefined ? "" : ` ${f.value}`}`, f.help!.replaceAll("\u00a0", " ")])
      )
    )
    // `-h` anywhere, as @effect/cli took it
    expect(execFileSync(process.execPath, [CLI, "-t", "10.0.0.5", "-h"], { encoding: "utf8" })).toBe(help)
  })

  it("--help keeps a command in a flag's text on one row at any width (--stay </dev/null broke at 80 columns)", () => {
    for (let width = 30; width <= 120; width++) {
      const rows = helpText(width).split("\n")
      expect(rows.filter((row) => row.includes("</dev/null")).map((row) => row.trim().split(" ").at(-2)), `at ${width}`).toEqual(["--stay"])
    }
  })

})
