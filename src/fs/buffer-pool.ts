/**
 * The memory of the read path: a fixed number of block-sized buffers, allocated when first needed and then
 * reused for as long as the mount lives. Every GET body of the block cache is read into them, and nothing else
 * is: the bytes a mount buffers are the pool's, so they never exceed `capacity` blocks, whatever the readers do.
 *
 * Why never freed: a buffer left to the garbage collector stays resident until a collection runs (V8 starts one
 * only after tens of MiB of such memory), and the C heap keeps much of what it gets back. Measured with 8 direct
 * readers and a 64 MiB cache, that held 300 MiB beyond the cache; reused buffers hold nothing beyond it. Reuse
 * also spares every part its pages' faults and zeroing, which was half of the mount's CPU on a sequential read.
 *
 * Holders: the fetch that fills a buffer, the cache while the block is in it, and a reader that copies from a
 * block while waiting for another. Bytes are only ever written into a buffer by a socket read, which happens on
 * a later turn of the event loop than the release that freed it; a reader that copies in the same turn it got
 * the bytes needs no hold.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private closed = false;
  /** Told each time a buffer comes back (the budget wakes its waiters). */
  onFree: (() => void) | undefined;

  constructor(
    readonly bufferBytes: number,
    /** Buffers in all, held or free. */
    readonly capacity: number,
  ) {}

  /** A buffer held once by the caller; undefined when all `capacity` of them are held (or the pool is closed). */
  take(): PooledBuffer | undefined {
    if (this.closed) return undefined;
    let bytes = this.free.pop();
    if (bytes === undefined && this.allocated < this.capacity) {
      bytes = Buffer.allocUnsafeSlow(this.bufferBytes);
      this.allocated += 1;
    }
    return bytes === undefined ? undefined : new PooledBuffer(bytes, this);
  }

  /** Buffers `take` can hand out now. */
  get availableCount(): number {
    return this.closed ? 0 : this.free.length + this.capacity - this.allocated;
  }

  /** Bytes of the buffers held now. */
  get heldBytes(): number {
    return (this.allocated - this.free.length) * this.bufferBytes;
  }

  get freeCount(): number {
    return this.free.length;
  }

  /** Hands out nothing more, and lets go of the free buffers. */
  close(): void {
    this.closed = true;
    this.free.length = 0;
  }

  /** @internal called by the last release of a `PooledBuffer`. */
  giveBack(bytes: Buffer): void {
    if (this.closed) return;
    this.free.push(bytes);
    this.onFree?.();
  }
}

export class PooledBuffer {
  private holders = 1;

  constructor(
    readonly bytes: Buffer,
    private readonly pool: BufferPool,
  ) {}

  hold(): void {
    if (this.holders === 0) throw new Error('a pooled buffer was held after its last release');
    this.holders += 1;
  }

  release(): void {
    if (this.holders === 0) throw new Error('a pooled buffer was released more often than held');
    this.holders -= 1;
    if (this.holders === 0) this.pool.giveBack(this.bytes);
  }

  /** Whether `view` is a view of this buffer's memory. */
  backs(view: Buffer): boolean {
    return view.buffer === this.bytes.buffer;
  }
}
