/**
 * Buffers for large outgoing frames, reused once the transport is done with them. V8 counts the memory of
 * every new ArrayBuffer toward its next full collection: a bulk sender that sealed each 64 KiB message into
 * a new buffer ran a mark-compact every few dozen frames on a 15 MB heap, and reusing these buffers took
 * its CPU per message from about 290 to 230 µs (measured, interleaved runs).
 *
 * A buffer comes back only through `give`, which the chat calls for frames the socket has consumed (its
 * write completed): until then the transport may still read it. Frames never given back are simply left to
 * the garbage collector.
 */
export class FrameBuffers {
  private readonly free: Array<ArrayBuffer> = []
  // each buffer out on loan, with the one frame it was lent as: only that frame brings it back, so a frame
  // given twice cannot free a buffer that a later frame is using (weak: frames never given back are dropped)
  private readonly lent = new WeakMap<ArrayBufferLike, Uint8Array>()

  /**
   * @param from smallest frame worth a reused buffer (smaller ones cost little to allocate)
   * @param capacity each buffer's size: the largest frame that fits one
   * @param keep most free buffers kept, bounding what idle memory holds on to
   */
  constructor(
    readonly from: number,
    readonly capacity: number,
    readonly keep: number
  ) {}

  /** `bytes` long: a reused buffer when the size suits one, a new one otherwise. */
  take(bytes: number): Uint8Array {
    if (bytes < this.from || bytes > this.capacity) return new Uint8Array(bytes)
    const frame = new Uint8Array(this.free.pop() ?? new ArrayBuffer(this.capacity), 0, bytes)
    this.lent.set(frame.buffer, frame)
    return frame
  }

  /** Frames nothing reads any more: their buffers, if they are ours, serve later frames. */
  give(frames: ReadonlyArray<Uint8Array>): void {
    for (const f of frames) {
      if (this.lent.get(f.buffer) !== f) continue
      this.lent.delete(f.buffer)
      if (this.free.length < this.keep) this.free.push(f.buffer as ArrayBuffer)
    }
  }

  /** Free buffers held now (for tests). */
  get held(): number {
    return this.free.length
  }
}
