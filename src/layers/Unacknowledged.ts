/**
 * Our messages the peer has not acknowledged yet, by id. The ids are our own counter ("1", "2", "3" ...,
 * handed out in order), so a window over the counter stands in for a `Map<string, true>`: the Map's table
 * was reallocated each time it grew and shrank with the receipts (8 MB of large-object garbage per 100k
 * messages on a sender, left until the next full collection, measured) and every id was hashed twice.
 *
 * The window runs from the oldest unacknowledged id to the newest id added; one byte per id in it.
 * Acknowledging anything else (an id not of our form, outside the window, acknowledged before) changes
 * nothing and says so: receipts come from the peer.
 */
export class Unacknowledged {
  /** every id below it is acknowledged (or was never added) */
  private first = 1
  /** one past the newest id added */
  private end = 1
  private count = 0
  /** a ring indexed by id, a power of two long: 1 = waiting for its receipt. Only ids in [first, end) wait,
   * and they fit the ring, so every other slot is 0 (ids skipped over need no clearing) */
  private waiting = new Uint8Array(1024)

  /** How many ids wait for a receipt. */
  get size(): number {
    return this.count
  }

  /** From the oldest waiting id to the newest added: what the window holds. */
  get span(): number {
    return this.end - this.first
  }

  /** `id`, from our counter: newer than every id added before (ids skipped in between never wait). */
  add(id: string): void {
    const n = Number(id)
    if (!Number.isSafeInteger(n) || n < this.end) throw new RangeError(`ids are added in order: ${id} after ${this.end - 1}`)
    if (this.count === 0) this.first = n
    while (n + 1 - this.first > this.waiting.length) this.grow()
    this.waiting[n & (this.waiting.length - 1)] = 1
    this.end = n + 1
    this.count++
  }

  /** True when `id` was waiting and now is not. */
  acknowledge(id: string): boolean {
    const n = ourId(id)
    if (n < this.first || n >= this.end) return false
    const mask = this.waiting.length - 1
    if (this.waiting[n & mask] === 0) return false
    this.waiting[n & mask] = 0
    this.count--
    if (this.count === 0) this.first = this.end
    else while (this.first < this.end && this.waiting[this.first & mask] === 0) this.first++
    return true
  }

  /** The ids still waiting, oldest first. */
  ids(): Array<string> {
    const out: Array<string> = []
    const mask = this.waiting.length - 1
    for (let i = this.first; i < this.end && out.length < this.count; i++) if (this.waiting[i & mask] === 1) out.push(String(i))
    return out
  }

  private grow(): void {
    const old = this.waiting
    const bigger = new Uint8Array(old.length * 2)
    for (let i = this.first; i < this.end; i++) bigger[i & (bigger.length - 1)] = old[i & (old.length - 1)]!
    this.waiting = bigger
  }
}

/** The number an id of our form stands for ("1" to 15 digits, no leading zero), or -1 for any other string. */
const ourId = (id: string): number => {
  if (id.length === 0 || id.length > 15) return -1
  let n = 0
  for (let i = 0; i < id.length; i++) {
    const digit = id.charCodeAt(i) - 48
    if (digit < 0 || digit > 9 || (i === 0 && digit === 0)) return -1
    n = n * 10 + digit
  }
  return n
}
