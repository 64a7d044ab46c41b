import type { BucketClient } from '../store/bucket-client.js';
import type { GetResult, RequestOptions } from '../store/object-store.js';
import { NotFoundError, RangeNotSatisfiableError } from '../store/errors.js';
import { ByteChunks } from './byte-chunks.js';
import { Errno, FsError, toFsError } from './errno.js';
import type { CachedRange, WholeBlock } from './types.js';

/** The object an open file reads: what it was when opened. */
export interface ObjectSnapshot {
  readonly key: string;
  readonly size: number;
  readonly version: string | undefined;
}

/**
 * Reads of one open file. The seam where prefetching and a shared block cache plug in: the
 * handle table only calls `read` and `close`.
 */
export interface ObjectReader {
  /** Up to `length` bytes at `position` into `target`; 0 at or past the end of the snapshot. */
  read(target: Buffer, length: number, position: number): Promise<number>;
  /** Drops buffers and cancels fetches; further reads are not made. */
  close(): void;
  /**
   * The file was just opened and the kernel holds none of its pages: a reader may start fetching what the
   * first read will surely want, so that the GET overlaps the open's round trip to the kernel. A promise is
   * waited for before the open is answered (a disk-cached block's file opened for the engine's first read).
   */
  opened?(): void | Promise<void>;
  /** Bytes at `position` the disk cache holds in a file already open, for an engine to serve (see `CachedRange`). */
  cachedRange?(position: number, length: number): CachedRange | undefined;
  /** The block file that would hold the whole object, for an engine that opens and serves it (see `WholeBlock`). */
  wholeBlock?(): WholeBlock | undefined;
  /** The engine served `bytes` from the `wholeBlock`. */
  engineServed?(bytes: number): void;
}

export type ObjectReaderFactory = (client: BucketClient, snapshot: ObjectSnapshot) => ObjectReader;

/**
 * The object changed or vanished under an open file. AIStore has no version-conditional GET, so
 * the reader checks the version and size each response carries; mixing bytes of two versions
 * would be silent corruption, so it fails the read (EIO) instead. Reopening reads the new version.
 */
export class ObjectChangedError extends FsError {
  constructor(key: string, detail: string) {
    super(Errno.EIO, `object ${key} changed while open (${detail}); reopen the file to read the new version`);
    this.name = 'ObjectChangedError';
  }
}

/** Bytes of `[position, position + length)` that exist in an object of `size` bytes. */
export function clampRead(size: number, length: number, position: number): number {
  if (position >= size || length <= 0) return 0;
  return Math.min(length, size - position);
}

/** One ranged GET per read, clamped to the size at open: no request at or past the end. */
export class RangeReader implements ObjectReader {
  private readonly abort = new AbortController();

  constructor(
    private readonly client: BucketClient,
    private readonly snapshot: ObjectSnapshot,
  ) {}

  async read(target: Buffer, length: number, position: number): Promise<number> {
    const wanted = clampRead(this.snapshot.size, Math.min(length, target.length), position);
    if (wanted === 0) return 0;
    const data = await fetchRange(this.client, this.snapshot, position, wanted, this.abort.signal);
    return data.copy(target, 0, 0, Math.min(wanted, data.length));
  }

  close(): void {
    this.abort.abort();
  }
}

export const createRangeReader: ObjectReaderFactory = (client, snapshot) => new RangeReader(client, snapshot);

/** As `fetchRange`, the bytes kept as the chunks they arrived in. */
export async function fetchRangeChunks(
  client: BucketClient,
  snapshot: ObjectSnapshot,
  offset: number,
  length: number,
  signal?: AbortSignal,
  into?: readonly Buffer[],
): Promise<ByteChunks> {
  const intoBytes = into?.reduce((sum, buffer) => sum + buffer.length, 0);
  const bodyBuffer = into === undefined ? undefined : (bytes: number) => (bytes === intoBytes ? into : undefined);
  const result = await fetchResult(client, snapshot, offset, length, { signal, bodyBuffer });
  return ByteChunks.of(result.chunks ?? [result.data]);
}

/** A ranged GET of `snapshot`, failing with `ObjectChangedError` when the object is no longer it. */
export async function fetchRange(
  client: BucketClient,
  snapshot: ObjectSnapshot,
  offset: number,
  length: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  return (await fetchResult(client, snapshot, offset, length, { signal })).data;
}

async function fetchResult(
  client: BucketClient,
  snapshot: ObjectSnapshot,
  offset: number,
  length: number,
  options: RequestOptions,
): Promise<GetResult> {
  try {
    const result = await client.get(snapshot.key, { offset, length }, options);
    if (snapshot.version !== undefined && result.version !== undefined && result.version !== snapshot.version) {
      throw new ObjectChangedError(snapshot.key, `version ${snapshot.version} → ${result.version}`);
    }
    if (result.objectSize !== snapshot.size) {
      throw new ObjectChangedError(snapshot.key, `size ${snapshot.size} → ${result.objectSize}`);
    }
    return result;
  } catch (error) {
    if (error instanceof NotFoundError) throw new ObjectChangedError(snapshot.key, 'deleted');
    if (error instanceof RangeNotSatisfiableError) throw new ObjectChangedError(snapshot.key, 'shrunk');
    throw toFsError(error);
  }
}
