// Loaded into a p2pchat process with --import: throws from a timer, outside any fiber, as a bug in an event
// handler would (after THROW_AFTER_MS, 400 by default).
setTimeout(() => {
  throw new RangeError("thrown by the test")
}, Number(process.env.THROW_AFTER_MS ?? 400))
