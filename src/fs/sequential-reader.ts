import type { BucketClient } from '../store/bucket-client.js';
import { clampRead, fetchRange, type ObjectReader, type ObjectReaderFactory, type ObjectSnapshot } from './read-path.js';

export interface ReadaheadOptions {
  /** First window of a sequential stream (and after a far seek). */
  readonly initialWindowBytes: number;
  /** The window doubles per fetch up to this. A handle buffers at most about twice this. */
  readonly maxWindowBytes: number;
}

export const DEFAULT_READAHEAD: ReadaheadOptions = Object.freeze({
  initialWindowBytes: 1024 * 1024,
  maxWindowBytes: 8 * 1024 * 1024,
});

interface Chunk {
  readonly offset: number;
  readonly length: number;
  readonly data: Promise<Buffer>;
}

/**
 * One sequential cursor per open file (as mountpoint-s3 does): reads that continue near where
 * the last one ended (within `initialWindowBytes`, for reads the kernel sends out of order) are served from windows fetched ahead, each twice the previous up to
 * `maxWindowBytes`, so the next GET is already under way while the reader consumes this one.
 * A read elsewhere (a seek outside the buffered windows) drops them, restarts the window small
 * and is served by one exact ranged GET, so random readers fetch no bytes they do not ask for.
 * The first read at offset 0 counts as sequential: a small object is fetched whole.
 * This per-handle buffer is the simple first step; a block cache shared by handles and bounded
 * for the whole mount is the performance issue's job, behind the same `ObjectReader` seam.
 */
export class SequentialReader implements ObjectReader {
  private chunks: Chunk[] = [];
  private lastEnd = 0;
  private windowBytes: number;
  private readonly abort = new AbortController();

  constructor(
    private readonly client: BucketClient,
    private readonly snapshot: ObjectSnapshot,
    private readonly options: ReadaheadOptions = DEFAULT_READAHEAD,
  ) {
    this.windowBytes = options.initialWindowBytes;
  }

  async read(target: Buffer, length: number, position: number): Promise<number> {
    const wanted = clampRead(this.snapshot.size, Math.min(length, target.length), position);
    if (wanted === 0) return 0;
    const end = position + wanted;
    // The kernel may deliver a stream's reads slightly out of order; near the cursor is still the stream.
    const nearCursor = Math.abs(position - this.lastEnd) <= this.options.initialWindowBytes;
    const sequential = nearCursor || this.chunkAt(position) !== undefined;
    this.lastEnd = sequential ? Math.max(this.lastEnd, end) : end;
    if (!sequential) {
      this.chunks = [];
      this.windowBytes = this.options.initialWindowBytes;
      const data = await fetchRange(this.client, this.snapshot, position, wanted, this.abort.signal);
      return data.copy(target, 0, 0, Math.min(wanted, data.length));
    }
    this.chunks = this.chunks.filter((chunk) => chunk.offset + chunk.length > position);
    this.ensureCovered(position, end);
    this.ensureCovered(end, Math.min(this.snapshot.size, end + this.windowBytes));
    let copied = 0;
    while (copied < wanted) {
      const at = position + copied;
      const chunk = this.chunkAt(at) ?? this.startChunk(at);
      const data = await chunk.data;
      const count = data.copy(target, copied, at - chunk.offset, Math.min(data.length, end - chunk.offset));
      if (count === 0) break;
      copied += count;
    }
    return copied;
  }

  close(): void {
    this.abort.abort();
    this.chunks = [];
  }

  /** Bytes fetched or being fetched ahead, for tests and metrics. */
  get bufferedBytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  private ensureCovered(from: number, to: number): void {
    let cursor = from;
    while (cursor < to) {
      const chunk = this.chunkAt(cursor) ?? this.startChunk(cursor);
      cursor = chunk.offset + chunk.length;
    }
  }

  private chunkAt(offset: number): Chunk | undefined {
    return this.chunks.find((chunk) => offset >= chunk.offset && offset < chunk.offset + chunk.length);
  }

  private startChunk(offset: number): Chunk {
    const length = Math.min(this.windowBytes, this.snapshot.size - offset);
    this.windowBytes = Math.min(this.windowBytes * 2, this.options.maxWindowBytes);
    const data = fetchRange(this.client, this.snapshot, offset, length, this.abort.signal);
    const chunk: Chunk = { offset, length, data };
    // A failed fetch is forgotten so the next read tries again; the reader awaiting it sees the error.
    data.catch(() => {
      this.chunks = this.chunks.filter((candidate) => candidate !== chunk);
    });
    this.chunks.push(chunk);
    return chunk;
  }
}

export function sequentialReaderFactory(options: ReadaheadOptions = DEFAULT_READAHEAD): ObjectReaderFactory {
  return (client: BucketClient, snapshot: ObjectSnapshot) => new SequentialReader(client, snapshot, options);
}
