import { wholeNumber } from "../domain/address.js"
import { decimalNumber } from "../domain/duration.js"
import { quoteInput, showInput } from "../domain/text.js"
import { notAMode, notAPort, notSeconds } from "./config.js"
import { type Flag, FLAGS, type Kind } from "./flags.js"

/**
 * What is wrong with a command line that @effect/cli refused, said as one sentence that names the flag.
 * @effect/cli's own messages do not ("'abc' is not a integer" for `-p abc`; "Received unknown argument: '-p'"
 * for a `-p` with no value after it), and its parser offers no hook to say better. This is consulted only
 * after it has refused the line, so it never decides what is valid: where it finds nothing to say,
 * @effect/cli's message is shown as it was.
 */

const name = (f: Flag) => (f.short === undefined ? `--${f.long}` : `-${f.short}/--${f.long}`)

const wanted = (kind: Kind): string => {
  switch (kind._tag) {
    case "port":
      return `a port, a whole number from ${kind.min} to 65535`
    case "mode":
      return "0 (auto), 1 (client) or 2 (server)"
    case "seconds":
      return "a number of seconds"
    case "text":
      return kind.what
    case "switch":
      return "nothing"
  }
}

/** Why `value` does not do for `flag`, if it does not (only the numbers are checked: the rest is resolveConfig's). */
const badValue = (flag: Flag, text: string): string | undefined => {
  switch (flag.kind._tag) {
    case "port":
      return wholeNumber(text) !== undefined ? undefined : notAPort(name(flag), text, flag.kind.min)
    case "mode":
      return wholeNumber(text) !== undefined ? undefined : notAMode(name(flag), text)
    case "seconds":
      return decimalNumber(text) !== undefined ? undefined : notSeconds(name(flag), text)
    default:
      return undefined
  }
}

const find = (token: string): Flag | undefined =>
  token.startsWith("--")
    ? FLAGS.find((f) => f.long === token.slice(2))
    : token.length === 2
      ? FLAGS.find((f) => f.short === token.slice(1))
      : undefined

/** A token that reads as a flag rather than as a value (a negative number is a value). */
const looksLikeFlag = (token: string) => token.startsWith("-") && token.length > 1 && !/^-[0-9.]/.test(token)

/** The first problem in `args` (the command line without node and the script), said as one sentence. */
export const explainArgs = (args: ReadonlyArray<string>): string | undefined => {
  const seen = new Set<Flag>()
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!
    const eq = token.startsWith("--") ? token.indexOf("=") : -1
    const flag = find(eq > 0 ? token.slice(0, eq) : token)
    if (flag === undefined) {
      if (token === "--") return undefined
      // a word that asks for help or the version was taken for the peer's name ("to name the peer, write -t help")
      const asked = /^-{0,2}(help|version|\?)$/i.exec(token)?.[1]?.toLowerCase()
      if (asked !== undefined) return `${quoteInput(token)} is not an option; for ${asked === "version" ? "the version: p2pchat --version" : "the options: p2pchat --help"}.`
      if (!looksLikeFlag(token))
        return /^[\w.:[\]-]+$/.test(token) && !args.some((a) => a === "-t" || a === "--target" || a.startsWith("--target="))
          ? `${quoteInput(token)} is not an option: to name the peer, write -t ${showInput(token)}.`
          : `${quoteInput(token)} is not an option; see p2pchat --help.`
      const short = /^-([a-zA-Z])[=]?(.+)$/.exec(token)
      const joined = short === null ? undefined : FLAGS.find((f) => f.short === short[1])
      if (joined !== undefined && joined.kind._tag !== "switch")
        return `Write ${showInput(token)} as -${joined.short} ${showInput(short![2]!)}, with a space.`
      return `${showInput(token)} is not an option of p2pchat; see p2pchat --help.`
    }
    if (seen.has(flag)) return `${name(flag)} is given twice; give it once.`
    seen.add(flag)
    if (flag.kind._tag === "switch") {
      if (eq > 0) return `${name(flag)} takes no value.`
      continue
    }
    const value = eq > 0 ? token.slice(eq + 1) : args[i + 1]
    if (value === undefined || (eq < 0 && looksLikeFlag(value))) return `${name(flag)} needs a value: ${wanted(flag.kind)}.`
    const bad = badValue(flag, value)
    if (bad !== undefined) return bad
    if (eq < 0) i++
  }
  return undefined
}
