import { generateRsaKeyPair, type RsaPemPair } from "../layers/RsaKeyPair.js"

/**
 * The TLS certificate's RSA key, generated in the thread pool from the very first moment of the process,
 * while the rest of the program loads (a prime search of 150 ms to most of a second, by luck and machine, that
 * would otherwise come after it). Started only when the run may listen and no key file is given.
 *
 * The `p2pchat` command's launcher (launch.ts) starts it before it reads and compiles the CLI's bundle, which
 * then takes it: two bundles, each with its own copy of this module, so the pending key is kept in a global
 * slot rather than in a variable of this one. `node dist/p2pchat.cjs`, with no launcher, starts it from
 * startKey.ts, which bootstrap.ts imports first.
 */
const SLOT = Symbol.for("p2pchat/prestartedKey")
const slots = globalThis as { [SLOT]?: Promise<RsaPemPair> | undefined }

/** Client mode's value as the flags read it: decimal digits (leading zeros aside) and no sign. */
const CLIENT = /^0*1$/

/** Whether a run with these arguments may listen, and so make a certificate: as the flags will read them. */
export const mayListen = (argv: ReadonlyArray<string>): boolean => {
  if (argv.some((a) => a === "--help" || a === "-h" || a === "--version" || a === "-k" || a === "--key" || a.startsWith("--key=")))
    return false
  // `--mode=1` too: a client started so made a key it never used, 50-250 ms of a core in the thread pool
  return !argv.some((a, i) => ((a === "-m" || a === "--mode") && CLIENT.test(argv[i + 1] ?? "")) || (a.startsWith("--mode=") && CLIENT.test(a.slice(7))))
}

/** Starts the key for a run that may listen, unless the launcher has already started it. */
export const prestartKeygen = (argv: ReadonlyArray<string>): void => {
  if (slots[SLOT] !== undefined || !mayListen(argv)) return
  const pending = generateRsaKeyPair()
  // a run that never listens never asks; do not let the rejection go unhandled
  pending.catch(() => {})
  slots[SLOT] = pending
}

/** The pre-started key pair, handed out once. */
export const takePrestartedKey = (): Promise<RsaPemPair> | undefined => {
  const pending = slots[SLOT]
  delete slots[SLOT]
  return pending
}
