import { CliConfig, Command, ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Cause, Console, Effect, Exit, Layer, Option } from "effect"
import { constants as osConstants } from "node:os"
import * as readline from "node:readline"
import { format } from "node:util"
import { explainArgs } from "./cli/argv.js"
import { bannerHint, type Config, peerCommand, type RawFlags, resolveConfig } from "./cli/config.js"
import { compactWhenQuiet, giveMemoryBack, hideMeasureMemoryNotice, MIN_GROWTH_BYTES, QUIET_MS } from "./cli/compaction.js"
import { chatEndCode, exitWith, terminalsNow } from "./cli/exit.js"
import { DESCRIPTION, helpText, options } from "./cli/flags.js"
import { takePrestartedKey } from "./cli/prestart.js"
import { bannerLines, colourOn, dumbTerminal, fold, styleFor, withoutColour } from "./cli/render.js"
import { makeJsonView, makePlainView } from "./cli/pipeViews.js"
import { makeTerminalView, stopJobOnCtrlZ } from "./cli/terminalView.js"
import type { View } from "./cli/view.js"
import { formatEndpoint } from "./domain/address.js"
import { type ChatError, describeForCli, errorCode, internalError, UsageError } from "./domain/errors.js"
import { type ChatEvent, event, toJsonLine } from "./domain/events.js"
import * as ForgeCertificate from "./layers/ForgeCertificate.js"
import * as LengthPrefixFraming from "./layers/LengthPrefixFraming.js"
import * as NodeCryptoCipher from "./layers/NodeCryptoCipher.js"
import * as NodeCryptoKeyAgreement from "./layers/NodeCryptoKeyAgreement.js"
import * as NodeCryptoKeySchedule from "./layers/NodeCryptoKeySchedule.js"
import * as NodeTlsTransport from "./layers/NodeTlsTransport.js"
import * as SeedProtocol from "./layers/SeedProtocol.js"
import * as V2Protocol from "./layers/V2Protocol.js"
import { open } from "./Peer.js"
import type { ChatOutcome } from "./services/Chat.js"
import { VERSION } from "./version.js"


/** The standard streams that were terminals at start, which node restores as it exits (see exitWith). */
const terminals = terminalsNow()

/** The signal (Ctrl-C: SIGINT, or SIGTERM) last received, which ends the run as interrupted if no chat ended it. */
let stoppedBy: NodeJS.Signals | undefined

/** What Ctrl-C does right now: interrupt while connecting, leave politely once chatting. */
let onInterrupt: (drainMs?: number, viewGone?: boolean) => void = () => {}

/**
 * The terminal's output for the question: standard output, or where that goes elsewhere (`p2pchat > log`,
 * `| tee log`) standard error, so that the question reaches the person and not the file.
 */
const questionOutput = (): NodeJS.WriteStream | undefined =>
  process.stdout.isTTY ? process.stdout : process.stderr.isTTY ? process.stderr : undefined

/**
 * The peer's address, asked at the terminal: first with the command that reaches this side from the peer's
 * machine (both sides name each other), again after what was wrong with the last answer.
 */
const askTarget = (problem: string | undefined, command: string | undefined) =>
  Effect.async<string, UsageError>((resume) => {
    const out = questionOutput() ?? process.stdout
    // folded at words: the terminal broke it anywhere ("name it afte" / "r a %")
    const said = problem ?? command
    if (said !== undefined) out.write(`${fold(said, "", Math.min(out.columns || 80, 100)).join("\n")}\n`)
    const rl = readline.createInterface({ input: process.stdin, output: out })
    let done = false
    const finish = (result: Effect.Effect<string, UsageError>) => {
      if (done) return
      done = true
      rl.close()
      resume(result)
    }
    stopJobOnCtrlZ(rl)
    rl.question("Peer address (ip[:port]): ", (answer) => finish(Effect.succeed(answer)))
    // Ctrl-C is an interruption, as anywhere before the chat (exit 130); Ctrl-D gives no address
    rl.on("SIGINT", () => ((stoppedBy = "SIGINT"), out.write("\n"), finish(Effect.interrupt)))
    rl.on("close", () => {
      if (!done) out.write("\n")
      finish(Effect.fail(new UsageError({ detail: "No target given." })))
    })
    // interrupted from outside: the prompt goes, nothing is resumed
    return Effect.sync(() => {
      done = true
      rl.close()
    })
  })

const cryptoLayer = Layer.mergeAll(NodeCryptoCipher.layer, NodeCryptoKeySchedule.layer, NodeCryptoKeyAgreement.layer)

const protocolLayer = (config: Config) =>
  (config.protocol === "seed" ? SeedProtocol.layer : V2Protocol.layer).pipe(Layer.provide(cryptoLayer))

const chat = (config: Config, view: View) =>
  Effect.gen(function* () {
    const quiet = yield* compactWhenQuiet({
      quietMs: QUIET_MS,
      minGrowthBytes: MIN_GROWTH_BYTES,
      residentBytes: () => process.memoryUsage.rss(),
      compact: giveMemoryBack
    })
    // server mode's word to the person, once it listens (sayPeerCommand)
    let peerCommandDue = config.mode === "server" && !config.json
    const session = yield* open({
      mode: config.mode,
      listen: config.listen,
      ...(config.target ? { target: config.target } : {}),
      // milliseconds as numbers: a string reads "1e-7 seconds" for --wait 0.0000001, which is no duration to Effect
      connectFor: config.waitSeconds * 1000,
      handshakeTimeout: config.handshakeTimeoutSeconds * 1000,
      heartbeatMs: config.heartbeatSeconds * 1000,
      describe: describeForCli,
      onEvents: (events) =>
        Effect.suspend(() => {
          quiet.touch()
          // the chat's last event (the last of its last batch): how it ended, should our output go away while it
          // is being written
          const last = events[events.length - 1]
          if (last?._tag === "disconnected") endedAs = { reason: last.reason, undelivered: last.undelivered.length }
          if (!peerCommandDue) return view.onEvents(events)
          return Effect.zipRight(view.onEvents(events), Effect.sync(() => (peerCommandDue = !sayPeerCommand(config, events))))
        })
    })
    return yield* view.run(session, (f) => (onInterrupt = f))
  }).pipe(Effect.scoped)

/** The width the banner and server mode's peer command are folded to: the terminal's, at most 80. */
const bannerWidth = () => Math.min(80, process.stdout.columns || 80)

const banner = (config: Config) =>
  process.stdout.write(
    bannerLines(
      {
        version: VERSION,
        protocol: config.protocol,
        mode: config.mode,
        // client mode neither listens nor makes a certificate: an address it does not use would mislead
        local: config.mode === "client" ? undefined : formatEndpoint(config.listen),
        target: config.target === undefined ? undefined : formatEndpoint(config.target),
        hint: bannerHint(config)
      },
      styleFor(process.stdout),
      bannerWidth()
    ).join("\n") + "\n"
  )

/**
 * Server mode, once it listens: what the peer runs to reach it. A listener is named by its peer, who may not
 * know this machine's address (and -i 0.0.0.0 shows none). Said after "Listening on", not in the banner: a
 * port already taken made it offer a command that could not work, and -p 0's port is known only now. Whether
 * the listening was among `events`.
 */
const sayPeerCommand = (config: Config, events: ReadonlyArray<ChatEvent>): boolean => {
  const listening = events.find((e) => e._tag === "listening")
  if (listening === undefined) return false
  const command = peerCommand(config.listen.host, listening.port, config.protocol)
  if (command !== undefined) process.stdout.write(fold(command, "  ", bannerWidth()).join("\n") + "\n")
  return true
}

const command = Command.make("p2pchat", options, (raw: RawFlags) =>
  Effect.gen(function* () {
    // a person at a terminal: asked for a missing target; the interactive view unless the terminal is dumb
    const atTerminal = !raw.json && process.stdin.isTTY === true && process.stdout.isTTY === true
    const interactive = atTerminal && !dumbTerminal()
    // a person types at a terminal even where our output goes to a file or a pipe: the question goes to stderr
    const canAsk = !raw.json && process.stdin.isTTY === true && questionOutput() !== undefined
    const config = yield* resolveConfig(raw, canAsk ? Option.some(askTarget) : Option.none())
    const style = styleFor(process.stdout)
    const view = config.json
      ? makeJsonView(process.stdout, undefined, { stay: config.stay })
      : interactive
        ? // loaded here, not at start: its tables and ICU's segmenter took 19 ms of every start-up (measured)
          makeTerminalView(style, (yield* Effect.promise(() => import("string-width"))).default)
        : // where a person types (a dumb terminal; a terminal whose output goes to `tee`), commands are read
          // as in the interactive view
          makePlainView(process.stdout, style, undefined, { stay: config.stay, typed: process.stdin.isTTY === true })
    // files are read and checked here, before any socket is opened; a generated key starts in the thread pool,
    // except for a client, which never listens: its certificate would only take CPU from its own handshake
    const certificate = config.tls
      ? ForgeCertificate.layerFiles(config.tls.key, config.tls.cert)
      : config.mode === "client"
        ? ForgeCertificate.layerGenerated
        : ForgeCertificate.layerGeneratedEager(takePrestartedKey())
    const layers = Layer.mergeAll(
      NodeTlsTransport.layer.pipe(Layer.provide(certificate)),
      LengthPrefixFraming.layer(),
      protocolLayer(config)
    )
    const built = yield* Layer.build(layers)
    if (!config.json) banner(config)
    finalOutcome = yield* chat(config, view).pipe(
      Effect.provide(built),
      Effect.tapError((e) =>
        config.json
          ? view.onEvents([event({ _tag: "error", code: errorCode(e), message: describeForCli(e) })])
          : Effect.void
      )
    )
  }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(DESCRIPTION)
)

/** How the chat ended, for the exit code (chatEndCode). */
let finalOutcome: ChatOutcome | undefined
/** The chat's `disconnected` event (its reason, how many ids it lists undelivered), once it is being shown. */
let endedAs: { readonly reason: string; readonly undelivered: number } | undefined

const cli = Command.run(command, { name: "p2pchat", version: VERSION })

const platform = Layer.mergeAll(
  NodeFileSystem.layer,
  NodePath.layer,
  NodeTerminal.layer,
  // --completions, --log-level and --wizard mean nothing for a chat: not listed (--help and --version are, above)
  CliConfig.layer({ showBuiltIns: false })
)

/**
 * What @effect/cli said on stderr: its refusal of a command line, held until the exit, where a sentence that
 * names the flag may replace it (see argv.ts).
 */
let cliSaid = ""

/**
 * @effect/cli writes in colour whatever the output (--version, --wizard): plain wherever ours is (a pipe, a file,
 * NO_COLOR).
 * What it writes to stderr is held (above).
 */
const plainWhereOursIs = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((console) => {
    const to = (stream: NodeJS.WriteStream, args: ReadonlyArray<unknown>) =>
      colourOn(stream) ? args : args.map((a) => (typeof a === "string" ? withoutColour(a) : a))
    return Effect.withConsole(effect, {
      ...console,
      log: (...args) => console.log(...to(process.stdout, args)),
      error: (...args) => Effect.sync(() => void (cliSaid += format(...to(process.stderr, args)) + "\n"))
    })
  })

/** One of `flags` anywhere before a `--`. */
const asks = (args: ReadonlyArray<string>, ...flags: ReadonlyArray<string>) => {
  const end = args.indexOf("--")
  return (end < 0 ? args : args.slice(0, end)).some((a) => flags.includes(a))
}

const main = asks(process.argv.slice(2), "-h", "--help")
  ? // ours, not @effect/cli's (see helpText)
    Effect.sync(() => void process.stdout.write(helpText(process.stdout.isTTY ? Math.min(process.stdout.columns || 80, 100) : 80)))
  : asks(process.argv.slice(2), "--version")
    ? // one line: @effect/cli's had an empty one after it
      Effect.sync(() => void process.stdout.write(`${VERSION}\n`))
    : Effect.suspend(() => cli(process.argv)).pipe(plainWhereOursIs, Effect.provide(platform))

/**
 * The sentence a run ends with, on stderr: folded at words on a terminal, as the view folds its own lines (the
 * terminal broke it anywhere: "in 1" / ".2 s of trying"); one line where a script reads it.
 */
const sayLast = (sentence: string, written?: () => void): void => {
  const width = process.stderr.isTTY && !dumbTerminal() ? process.stderr.columns : 0
  process.stderr.write(`${width > 0 ? fold(sentence, "", width).join("\n") : sentence}\n`, written)
}

/** A bug that stopped the CLI, said in one sentence (an `error` event with --json), never as a stack trace. */
const reportInternalError = (defect: unknown, written?: () => void): void => {
  const error = internalError(defect)
  const sentence = `p2pchat hit an internal error and stopped (${error.detail}); please report it.`
  if (process.argv.includes("--json"))
    process.stdout.write(toJsonLine(event({ _tag: "error", code: errorCode(error), message: sentence })) + "\n", written)
  else sayLast(sentence, written)
}

const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  // what @effect/cli said and no refusal of ours replaces
  if (cliSaid !== "" && !(Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), ValidationError.isValidationError))) {
    process.stderr.write(cliSaid)
    cliSaid = ""
  }
  // a chat that never ended (cut short by a second Ctrl-C) is an interruption, whatever the CLI layer reports
  if (Exit.isSuccess(exit)) {
    if (finalOutcome === undefined) return forced ? 130 : 0
    return chatEndCode(finalOutcome._tag === "Failed", finalOutcome.undelivered.length)
  }
  if (Cause.isInterruptedOnly(exit.cause)) return 130
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) {
    reportInternalError(Cause.squash(exit.cause))
    return 1
  }
  const error = failure.value
  if (ValidationError.isValidationError(error)) {
    if (ValidationError.isHelpRequested(error)) return 0
    const sentence = explainArgs(process.argv.slice(2))
    if (sentence === undefined) process.stderr.write(cliSaid)
    else sayLast(`p2pchat: ${sentence}`)
    cliSaid = ""
    return 2
  }
  const e = error as ChatError
  // refused flags or files: said on stderr with --json too (no chat began whose events would carry them)
  const usage = e._tag === "UsageError" || e._tag === "CertificateError"
  if (usage || !process.argv.includes("--json")) sayLast(`p2pchat: ${describeForCli(e)}`)
  return usage ? 2 : 1
}

// The last resort for a bug outside every fiber (an exception in an event handler, a rejection nobody
// handles): one sentence, as for a defect inside the chat, instead of node's stack trace; then exit 1.
process.on("uncaughtException", (defect) => {
  // after a hang-up these are the terminal's errors (readline cannot reset it), and there is no one to tell
  if (hungUp) return
  const leave = () => exitWith(1, terminals)
  reportInternalError(defect, leave)
  // a stream that cannot take the line must not keep a broken process alive
  setTimeout(leave, 1_000).unref()
})

hideMeasureMemoryNotice()

// A run of our own instead of NodeRuntime.runMain: Ctrl-C must say goodbye to the peer, not cut the socket.
const fiber = Effect.runFork(main)
onInterrupt = () => fiber.unsafeInterruptAsFork(fiber.id())
let interrupts = 0
let forced = false
const force = () => {
  forced = true
  fiber.unsafeInterruptAsFork(fiber.id())
}
/** How long a second Ctrl-C lets the goodbye take before stopping regardless. */
const GOODBYE_MS = 500
// Ctrl-C (or SIGTERM): the first leaves, waiting a little for receipts; a second says goodbye at once, so that
// the peer reads that we left (it read "connection lost", and every message of ours as undelivered, when the
// second cut the connection), and stops regardless after GOODBYE_MS; a third stops at once.
const onSignal = (signal: NodeJS.Signals) => {
  stoppedBy = signal
  interrupts++
  if (interrupts === 1) onInterrupt()
  else if (interrupts === 2) {
    onInterrupt(0)
    setTimeout(force, GOODBYE_MS).unref()
  } else force()
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
// The terminal went away (its window closed, the ssh connection dropped): leave as /quit does, so the peer
// reads "left" rather than "connection lost" (SIGHUP used to kill us), but without waiting for receipts:
// what the peer sends now can be shown to nobody, and no receipt may vouch for it, nor for what the view
// holds if its write to the gone terminal never completes (the goodbye goes out all the same: `viewGone`).
// Writes to the terminal, and readline's resetting of it, fail from now on (EIO), whichever comes first: no
// reason to cut the goodbye short, nor a bug to report. Once it is said (or after 5 s) the process ends as
// SIGHUP would have ended it, so that whatever waits for it sees the hang-up; node's exit, which asserts that
// it can restore the terminal, is not taken (see exitWith for a hang-up whose SIGHUP never came).
let hungUp = false
const endAsHungUp = () => {
  process.removeAllListeners("SIGHUP")
  try {
    process.kill(process.pid, "SIGHUP")
  } catch {
    // where there is no SIGHUP to send (Windows), nor a terminal state for node to restore
    process.exit(129)
  }
}
const hangUp = () => {
  if (hungUp) return
  hungUp = true
  onInterrupt(0, true)
  setTimeout(endAsHungUp, 5_000).unref()
}
// Only with a terminal to lose: without one, whoever sends SIGHUP means its default (end at once).
if (terminals.includes(0) || terminals.includes(1)) process.on("SIGHUP", hangUp)
if (terminals.includes(0)) {
  // readline resets the terminal when it closes, and a terminal that is gone makes that throw
  const stdin = process.stdin
  const setRawMode = stdin.setRawMode.bind(stdin)
  stdin.setRawMode = (mode) => {
    try {
      return setRawMode(mode)
    } catch {
      hangUp()
      return stdin
    }
  }
  stdin.on("error", hangUp)
}
// Our standard output went away (the reader of our pipe exited: `p2pchat ... | head -3`): nothing more can be
// shown, so nothing more may be acknowledged. The chat is cut at once (the view's write never completes, so
// no receipt leaves for what it held); the peer sees a lost connection and every id we did not acknowledge
// as undelivered. Exit code 141, as SIGPIPE would give. (Before, p2pchat acknowledged all that came after.)
// If what could not be written was the chat's end (`... | grep -m1 delivered` exits before it), the chat
// is over already, goodbye sent: the exit code is its own.
// Output that fails otherwise (a full disk: ENOSPC; EIO) cuts the chat the same way, but that is a failure to
// say: it ended with exit code 141 and not a word, before any connection when the first event failed.
let outputGone = false
let outputFailure: string | undefined
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  // a terminal does not go away as a pipe's reader does: it hangs up
  if (process.stdout.isTTY) return hangUp()
  if (outputGone || hungUp) return
  outputGone = true
  // node's message is "ENOSPC: no space left on device, write"
  if (error.code !== "EPIPE") outputFailure = `${error.code ?? "error"}: ${error.message.replace(/^\w+: /, "").replace(/, \w+$/, "")}`
  fiber.unsafeInterruptAsFork(fiber.id())
})
const outputGoneCode = () => {
  if (outputFailure !== undefined) sayLast(`p2pchat: could not write to standard output (${outputFailure}), so it stopped.`)
  if (endedAs === undefined) return outputFailure === undefined ? 141 : 1
  return chatEndCode(endedAs.reason === "connection lost", endedAs.undelivered)
}
/**
 * A run stopped by a signal before any chat ended it dies of that signal, as a program that did not catch it:
 * a shell running a script then stops the script too (with exit code 130 it took Ctrl-C as handled and went on
 * to the next command), and a service manager takes SIGTERM's stop as clean (exit code 130 was a failure).
 */
const endBySignal = (signal: NodeJS.Signals) => {
  process.removeAllListeners(signal)
  try {
    process.kill(process.pid, signal)
  } catch {
    // where a process cannot signal itself: the code a shell gives a process ended by that signal
    process.exit(128 + (osConstants.signals[signal] ?? 2))
  }
}
fiber.addObserver((exit) => {
  if (hungUp) return endAsHungUp()
  const code = outputGone ? outputGoneCode() : exitCodeOf(exit)
  const end = () =>
    // the terminal hung up while the last words were written
    hungUp ? endAsHungUp() : code === 130 && stoppedBy !== undefined ? endBySignal(stoppedBy) : exitWith(code, terminals)
  // flush stdout (a pipe may still hold events) before leaving
  if (outputGone) end()
  else process.stdout.write("", end)
})
