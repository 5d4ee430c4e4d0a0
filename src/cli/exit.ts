// Leaving with an exit code when a terminal we started on may be gone.
import { closeSync } from "node:fs"
import { isatty } from "node:tty"

/** What `exitWith` needs from the process: node's own by default, stand-ins in tests. */
export interface ExitIo {
  readonly isatty: (fd: number) => boolean
  readonly close: (fd: number) => void
  readonly exit: (code: number) => never
}

const nodeIo: ExitIo = { isatty, close: closeSync, exit: (code) => process.exit(code) }

/**
 * The exit code of a chat that ended by itself: 1 where it failed (the connection lost, a protocol error, input
 * that could not be read), 3 where it ended normally but messages of ours were never acknowledged, 0 where
 * every one was. With 0 for both, a script piping a file in (`p2pchat -m 1 -t ... < file && ...`) took lines
 * the peer never confirmed for delivered, unless it parsed the output.
 */
export const chatEndCode = (failed: boolean, undelivered: number): 0 | 1 | 3 => (failed ? 1 : undelivered > 0 ? 3 : 0)

/** The standard streams (0, 1, 2) that are terminals now: call it at start, as node notes them then. */
export const terminalsNow = (io: Pick<ExitIo, "isatty"> = nodeIo): ReadonlyArray<number> => [0, 1, 2].filter((fd) => io.isatty(fd))

/**
 * Exits with `code`, first closing each of `terminals` (the standard streams that were terminals at start)
 * that no longer is one.
 *
 * As node exits it restores every standard stream that was a terminal at its start, and asserts that it can
 * (nodejs/node#51519; later node releases dropped that check, nodejs/node#58200, but Node 20 has it). A
 * terminal that has hung up since (its window closed while p2pchat ran without its SIGHUP: `disown`ed, or in
 * a session whose leader ignores it; or the hang-up came in the very moment the chat ended, before its signal
 * was handled) refuses that, and the process died of SIGABRT or SIGSEGV with a core dump instead of giving
 * its code. A hung-up terminal no longer answers as one (isatty's request fails with EIO), and node passes
 * over a stream that is closed: so those are closed first.
 */
export const exitWith = (code: number, terminals: ReadonlyArray<number>, io: ExitIo = nodeIo): never => {
  for (const fd of terminals) {
    if (io.isatty(fd)) continue
    try {
      io.close(fd)
    } catch {
      // closed already: node passes over it too
    }
  }
  return io.exit(code)
}
