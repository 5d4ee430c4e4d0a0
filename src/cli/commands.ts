/**
 * What a person types at a terminal: a message, or one of the chat's commands. The interactive view reads
 * it so, and the plain view where standard input is a terminal (TERM=dumb, or our output piped); piped input
 * does not (every line of it is a message, `/quit` aside: the scripting contract).
 */
export type Typed =
  | { readonly _tag: "send"; readonly text: string }
  | { readonly _tag: "nothing" }
  | { readonly _tag: "quit" }
  | { readonly _tag: "help" }
  | { readonly _tag: "verify" }
  | { readonly _tag: "unknown"; readonly command: string }

/** The chat's commands and what each does, as /help lists them. */
export const COMMANDS: ReadonlyArray<readonly [command: string, does: string]> = [
  ["/quit", "leave the chat (your peer is told); Ctrl-C and Ctrl-D do the same"],
  ["/verify", "show the fingerprints (and the safety code) again"],
  ["/help", "this list"],
  ["//text", "send a line that starts with /"]
]

/** Where /help's descriptions start: three spaces after the longest command. */
const HELP_INDENT = 2 + Math.max(...COMMANDS.map(([command]) => command.length)) + 3

/** A command as /help lists it, before what it does. */
export const helpLabel = (command: string): string => `  ${command}`.padEnd(HELP_INDENT)

export const HELP = ["Commands:", ...COMMANDS.map(([command, does]) => helpLabel(command) + does)]

export const readTyped = (line: string): Typed => {
  if (line.trim() === "") return { _tag: "nothing" }
  if (line.startsWith("//")) return { _tag: "send", text: line.slice(1) }
  if (!line.startsWith("/")) return { _tag: "send", text: line }
  const command = line.trim()
  if (command === "/quit" || command === "/exit") return { _tag: "quit" }
  if (command === "/help") return { _tag: "help" }
  if (command === "/verify") return { _tag: "verify" }
  return { _tag: "unknown", command }
}

/**
 * A line that ended inside a paste (the terminal marked it: bracketed paste): a message word for word, whatever
 * it starts with. Pasted text is not a command: a log with a "/quit" line in it ended the chat, a pasted path
 * ("/etc/hosts ...") was refused as an unknown command, and "//" lost a slash.
 */
export const readPasted = (line: string): Typed => (line.trim() === "" ? { _tag: "nothing" } : { _tag: "send", text: line })

export const unknownCommand = (command: string) =>
  `Unknown command ${command}; /help lists them (//text sends a line starting with /).`
