import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { explainArgs, FLAGS } from "../src/cli/argv.js"
import { CLI } from "./support/cli.js"

describe("a refused command line, said with the flag it is about", () => {
  const cases: Array<[ReadonlyArray<string>, string]> = [
    [["-p", "abc"], "-p/--port abc is not a port: give a whole number from 0 to 65535."],
    [["--port=8k"], "-p/--port 8k is not a port: give a whole number from 0 to 65535."],
    [["-p", ""], '-p/--port "" is not a port: give a whole number from 0 to 65535.'],
    [["-r", "1.5"], "-r/--remote 1.5 is not a port: give a whole number from 1 to 65535."],
    [["-m", "client"], "-m/--mode client is not a mode: use 0 (auto), 1 (client) or 2 (server)."],
    [["--heartbeat", "often"], "--heartbeat often is not a number of seconds."],
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
    [["-m", "1", "-m", "2"], "-m/--mode is given twice; give it once."],
    [["--json=yes", "--json"], "--json takes no value."]
  ]
  for (const [args, sentence] of cases)
    it(args.join(" "), () => {
      expect(explainArgs(args)).toBe(sentence)
    })

  it("finds nothing to say about a line that is fine (negative numbers are values, not flags)", () => {
    expect(explainArgs(["-i", "::1", "-p", "0", "-t", "[::1]:9000", "-m", "1", "--json", "--heartbeat", "0.5", "--wait=3"])).toBeUndefined()
    expect(explainArgs(["-r", "-5"])).toBeUndefined()
  })

  it("knows every option --help lists, and lists none that --help does not", () => {
    const help = execFileSync(process.execPath, [CLI, "--help"], { env: { ...process.env, NO_COLOR: "1" }, encoding: "utf8" })
    const listed = [...help.matchAll(/^\((-\w), --([\w-]+) \w+\)$|^--([\w-]+)(?: \w+)?$/gm)].map((m) =>
      m[1] === undefined ? { long: m[3] } : { short: m[1].slice(1), long: m[2] }
    )
    expect(listed.length).toBeGreaterThan(10)
    const ours = FLAGS.filter((f) => !["help", "version", "wizard", "completions", "log-level"].includes(f.long))
    expect(new Set(listed.map((f) => `${f.short ?? ""}/${f.long}`))).toEqual(new Set(ours.map((f) => `${f.short ?? ""}/${f.long}`)))
  })
})
