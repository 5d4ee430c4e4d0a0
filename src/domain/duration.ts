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
