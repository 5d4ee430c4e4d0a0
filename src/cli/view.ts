import type { Effect } from "effect"
import type { ChatEvent } from "../domain/events.js"
import type { ChatHandle, ChatOutcome } from "../services/Chat.js"
import { COMMANDS, HELP, helpLabel, type Typed, unknownCommand } from "./commands.js"
import { type DisplayWidth, hang, type Style, unstyled, verification } from "./render.js"

/**
 * A view renders events and feeds input lines to the chat. Three of them: the interactive terminal, plain
 * text for pipes, and JSON lines (pipeViews.ts, terminalView.ts). All render the same event stream, so they
 * cannot disagree.
 */
export interface View {
  readonly onEvents: (events: ReadonlyArray<ChatEvent>) => Effect.Effect<void>
  /**
   * Reads input until the chat is over; `setInterrupt` tells the CLI what Ctrl-C does from now on: leave,
   * after waiting up to `drainMs` for the peer's receipts (the view's own wait if not given; 0 at once).
   * `viewGone`: the terminal hung up, so what the view holds will never be shown (ChatHandle.leave).
   */
  readonly run: (chat: ChatHandle, setInterrupt: SetInterrupt) => Effect.Effect<ChatOutcome>
}

export type SetInterrupt = (f: (drainMs?: number, viewGone?: boolean) => void) => void

/** A command that the view answers (the others, /quit and a message, the input acts on). */
export type Answered = Extract<Typed, { _tag: "help" | "verify" | "unknown" }>

/**
 * The lines that answer a command, in the interactive view and the plain one alike. Given a terminal's
 * `columns` and how wide text shows there, folded at words: a narrow pane broke /help's lines anywhere
 * ("(your peer is told" / "); Ctrl-C ..."), where the messages around them were folded.
 */
export const answer = (
  typed: Answered,
  handshake: Extract<ChatEvent, { _tag: "handshake" }> | undefined,
  style: Style,
  terminal?: { readonly columns: number; readonly width: DisplayWidth }
): ReadonlyArray<string> => {
  switch (typed._tag) {
    case "help":
      return terminal === undefined
        ? HELP
        : [
          HELP[0]!,
          ...COMMANDS.flatMap(([command, does]) =>
            hang(helpLabel(command), [[does, unstyled]], terminal.columns, terminal.width)
          )
        ]
    case "verify":
      return handshake === undefined ? ["No session yet."] : verification(handshake, style, terminal?.columns)
    case "unknown": {
      const said = unknownCommand(typed.command)
      return terminal === undefined ? [style.yellow(said)] : hang("", [[said, style.yellow]], terminal.columns, terminal.width)
    }
  }
}
