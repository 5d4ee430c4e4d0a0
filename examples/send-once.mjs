// A one-shot sender: connects to HOST:PORT, sends one message, waits for the receipt, leaves.
// Exits 0 once the peer confirmed delivery, 1 otherwise.   node examples/send-once.mjs 127.0.0.1:8000 "deploy done"
import { Console, Effect, Either, Stream } from "effect"
import * as P2pchat from "p2pchat"

const [targetText = "127.0.0.1:8000", text = "hello"] = process.argv.slice(2)
const target = P2pchat.parseTarget(targetText, 8000)
if (Either.isLeft(target)) {
  console.error(target.left)
  process.exit(2)
}

const program = Effect.gen(function* () {
  const session = yield* P2pchat.open({ mode: "client", target: target.right, connectFor: "5 seconds" })
  const id = yield* session.send(text)
  // the receipt comes back through the encrypted channel
  const receipt = yield* Stream.runHead(Stream.filter(session.events, (e) => e._tag === "delivered" && e.id === id)).pipe(
    Effect.timeout("10 seconds")
  )
  const reply = yield* Stream.runHead(session.messages).pipe(Effect.timeout("2 seconds"), Effect.option)
  yield* session.leave()
  yield* session.outcome
  yield* Console.log(JSON.stringify({ delivered: receipt._tag === "Some", sas: session.info.sas, reply: reply._tag === "Some" && reply.value._tag === "Some" ? reply.value.value.text : null }))
}).pipe(Effect.scoped, Effect.provide(P2pchat.layer()))

// a rejected runPromise carries the error's sentence as its message (printed whole, it is a stack trace)
Effect.runPromise(program).catch((error) => {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
})
