import { generateRsaKeyPair, type RsaPemPair } from "../layers/RsaKeyPair.js"

/**
 * The TLS certificate's RSA key, generated in the thread pool from the very first moment of the process,
 * while the rest of the program loads (50-250 ms of prime search that would otherwise come after it).
 * Started only when the run may listen and no key file is given.
 */
let pending: Promise<RsaPemPair> | undefined

/** Client mode's value as the flags read it: decimal digits (leading zeros aside) and no sign. */
const CLIENT = /^0*1$/

/** Whether a run with these arguments may listen, and so make a certificate: as the flags will read them. */
export const mayListen = (argv: ReadonlyArray<string>): boolean => {
  if (argv.some((a) => a === "--help" || a === "-h" || a === "--version" || a === "-k" || a === "--key" || a.startsWith("--key=")))
    return false
  // `--mode=1` too: a client started so made a key it never used, 50-250 ms of a core in the thread pool
  return !argv.some((a, i) => ((a === "-m" || a === "--mode") && CLIENT.test(argv[i + 1] ?? "")) || (a.startsWith("--mode=") && CLIENT.test(a.slice(7))))
}

export const prestartKeygen = (argv: ReadonlyArray<string>): void => {
  if (!mayListen(argv)) return
  pending = generateRsaKeyPair()
  // a run that never listens never asks; do not let the rejection go unhandled
  pending.catch(() => {})
}

/** The pre-started key pair, handed out once. */
export const takePrestartedKey = (): Promise<RsaPemPair> | undefined => {
  const p = pending
  pending = undefined
  return p
}
