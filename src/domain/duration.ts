import { Duration, Option } from "effect"
import { showGiven } from "./text.js"

/**
 * What is wrong with a duration option as the caller gave it (`undefined`: nothing), said by name (`what`) for a
 * caller who built it by hand. Effect's own word for "ten seconds" is "Invalid DurationInput", naming nothing, and
 * it takes NaN (a number parsed from nothing) and negative durations for no time at all.
 */
export const durationProblem = (
  what: string,
  input: unknown,
  rules: { readonly zero: boolean; readonly infinite: boolean }
): string | undefined => {
  const shown = showGiven(input)
  const wanted = `give ${rules.zero ? "0 or more" : "more than 0"}${rules.infinite ? "" : " (not Infinity)"}, such as "10 seconds" or 10000 (ms)`
  const decoded = Number.isNaN(input) ? Option.none() : Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) return `${what} ${shown} is not a duration: ${wanted}`
  const negative =
    (typeof input === "number" && input < 0) || (typeof input === "bigint" && input < 0n) || (typeof input === "string" && input.startsWith("-"))
  if (negative || (!rules.zero && Duration.isZero(decoded.value)) || (!rules.infinite && !Duration.isFinite(decoded.value)))
    return `${what} ${shown} is out of range: ${wanted}`
  return undefined
}

/**
 * A number of seconds written as people write one: decimal, with a minus, a fraction or an exponent if wanted ("10",
 * "0.5", ".5", "1e-3", "-1"). JavaScript's Number also reads "0x10" as 16, "0o20" as 16, " 5" as 5 and "" as 0, so
 * `--wait 0x10` waited 16 s without a word. Digits past what a double holds read as Infinity, which the range check
 * refuses.
 */
export const decimalNumber = (text: string): number | undefined =>
  /^-?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(text) ? Number(text) : undefined
