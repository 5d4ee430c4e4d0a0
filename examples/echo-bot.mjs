// An echo bot: listens on 127.0.0.1:PORT, answers every message with "echo: <text>", and exits when its
// peer leaves. Uses only p2pchat's public entry points.   node examples/echo-bot.mjs [PORT]
import { Console, Effect, Stream } from "effect"
import * as P2pchat from "p2pchat"

const port = Number(process.argv[2] ?? 8000)

const program = Effect.gen(function* () {
  const session = yield* P2pchat.open({
    mode: "server",
    listen: { host: "127.0.0.1", port },
    onEvents: (events) =>
      Effect.forEach(events, (e) => (e._tag === "listening" ? Console.log(`listening on ${e.address}:${e.port}`) : Effect.void))
  })
  yield* Console.log(`connected; safety code ${session.info.sas}`)
  // answer each message; the stream ends when the chat does
  yield* Stream.runForEach(session.messages, (m) => session.send(`echo: ${m.text}`).pipe(Effect.ignore))
  const outcome = yield* session.outcome
  yield* Console.log(`chat over: ${outcome._tag}`)
}).pipe(Effect.scoped, Effect.provide(P2pchat.layer()))

// a rejected runPromise carries the error's sentence as its message (printed whole, it is a stack trace)
Effect.runPromise(program).catch((error) => {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
})
