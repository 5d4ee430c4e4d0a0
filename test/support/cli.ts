import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { type ChatEvent, fromJsonLine } from "../../src/domain/events.js"

export const CLI = path.resolve(import.meta.dirname, "../../dist/p2pchat.mjs")

/** A p2pchat process in pipe mode: its JSON events as they come, its stdin, its exit code. */
export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly events: Array<ChatEvent>
  readonly stderr: () => string
  /** Everything printed on stdout so far (for the text views). */
  readonly stdout: () => string
  /** Resolves with the first event that matches (seen before or later); rejects after `ms`. */
  readonly waitFor: <T extends ChatEvent["_tag"]>(
    tag: T,
    predicate?: (e: Extract<ChatEvent, { _tag: T }>) => boolean,
    ms?: number
  ) => Promise<Extract<ChatEvent, { _tag: T }>>
  readonly send: (line: string) => void
  readonly endInput: () => void
  readonly exited: Promise<number>
  readonly kill: (signal?: NodeJS.Signals) => void
}

export const startCli = (
  args: ReadonlyArray<string>,
  /** `stdin`: a file descriptor to give the process as its standard input (then `send` and `endInput` do nothing) */
  options: { json?: boolean; env?: Readonly<Record<string, string>>; stdin?: number } = {}
): CliProcess => {
  const child = spawn(process.execPath, [CLI, ...(options.json === false ? [] : ["--json"]), ...args], {
    env: { ...process.env, NO_COLOR: "1", ...options.env },
    stdio: [options.stdin ?? "pipe", "pipe", "pipe"]
  }) as ChildProcessWithoutNullStreams
  const events: Array<ChatEvent> = []
  const listeners = new Set<() => void>()
  let stdout = ""
  let allStdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (d: string) => {
    stdout += d
    allStdout += d
    let nl: number
    while ((nl = stdout.indexOf("\n")) >= 0) {
      const line = stdout.slice(0, nl)
      stdout = stdout.slice(nl + 1)
      if (options.json === false) continue
      events.push(fromJsonLine(line))
    }
    for (const l of listeners) l()
  })
  // a process that exits while we still write to it shows in its events and exit code, not as an EPIPE here
  child.stdin?.on("error", () => {})
  child.stderr.setEncoding("utf8")
  child.stderr.on("data", (d: string) => (stderr += d))
  const exited = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))))
  return {
    child,
    events,
    stderr: () => stderr,
    stdout: () => allStdout,
    waitFor: (tag, predicate = () => true, ms = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find((e) => e._tag === tag && predicate(e as never))
          if (found) {
            listeners.delete(check)
            clearTimeout(timer)
            resolve(found as never)
          }
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`no ${tag} event within ${ms} ms; got: ${events.map((e) => e._tag).join(", ")}; stderr: ${stderr}`))
        }, ms)
        listeners.add(check)
        check()
      }),
    send: (line) => child.stdin?.write(line + "\n"),
    endInput: () => child.stdin?.end(),
    exited,
    kill: (signal = "SIGKILL") => child.kill(signal)
  }
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
