import type { PooledBuffer } from './buffer-pool.js';

/**
 * Bytes kept as the chunks they arrived in (a GET's socket reads), cut into blocks and copied out to the
 * kernel without ever being joined: joining an 8 MiB part costs a memcpy into freshly faulted pages, which
 * measured as the largest CPU cost of the read path.
 */
export class ByteChunks {
  static readonly EMPTY = new ByteChunks([], 0, undefined);

  static of(chunks: readonly Buffer[]): ByteChunks {
    let length = 0;
    for (const chunk of chunks) length += chunk.length;
    return new ByteChunks(chunks, length, undefined);
  }

  private constructor(
    private readonly chunks: readonly Buffer[],
    readonly length: number,
    /** The pooled buffer some of the chunks are views of: whoever keeps these bytes holds it. */
    readonly memory: PooledBuffer | undefined,
  ) {}

  /** The same bytes, known to live (partly) in `memory`, when they do; else these bytes unchanged. */
  livingIn(memory: PooledBuffer): ByteChunks {
    return this.chunks.some((chunk) => memory.backs(chunk)) ? new ByteChunks(this.chunks, this.length, memory) : this;
  }

  /** Whether bytes `[start, start + view.length)`, as far as these reach, are `view`'s own memory, in place. */
  liesIn(view: Buffer, start: number): boolean {
    const end = Math.min(this.length, start + view.length);
    let chunkStart = 0;
    for (const chunk of this.chunks) {
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd > start && chunkStart < end && (chunk.buffer !== view.buffer || chunk.byteOffset - view.byteOffset !== chunkStart - start)) {
        return false;
      }
      if (chunkEnd >= end) break;
      chunkStart = chunkEnd;
    }
    return true;
  }

  /** Bytes `[start, end)` as views of the same chunks (no copy). */
  subrange(start: number, end: number): ByteChunks {
    const from = Math.max(0, start);
    const to = Math.min(this.length, end);
    if (to <= from) return ByteChunks.EMPTY;
    if (from === 0 && to === this.length) return this;
    const views: Buffer[] = [];
    let chunkStart = 0;
    for (const chunk of this.chunks) {
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd > from && chunkStart < to) {
        views.push(chunk.subarray(Math.max(0, from - chunkStart), Math.min(chunk.length, to - chunkStart)));
      }
      if (chunkEnd >= to) break;
      chunkStart = chunkEnd;
    }
    return new ByteChunks(views, to - from, this.memory);
  }

  /** Copies bytes `[sourceStart, sourceEnd)` into `target` at `targetStart`, as far as both reach; returns the count. */
  copyTo(target: Buffer, targetStart: number, sourceStart: number, sourceEnd: number): number {
    const to = Math.min(this.length, sourceEnd, sourceStart + Math.max(0, target.length - targetStart));
    let copied = 0;
    let chunkStart = 0;
    for (const chunk of this.chunks) {
      const chunkEnd = chunkStart + chunk.length;
      if (chunkEnd > sourceStart + copied && chunkStart < to) {
        copied += chunk.copy(target, targetStart + copied, sourceStart + copied - chunkStart, Math.min(chunk.length, to - chunkStart));
      }
      if (chunkEnd >= to) break;
      chunkStart = chunkEnd;
    }
    return copied;
  }
}
