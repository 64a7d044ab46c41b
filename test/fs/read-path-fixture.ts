import { blockCacheFor } from '../../src/fs/block-cache.js';
import { PrefetchingReader, objectIdOf } from '../../src/fs/prefetcher.js';
import { resolveReadPathOptions, type ReadPathOptions } from '../../src/fs/read-path-options.js';
import type { ObjectSnapshot } from '../../src/fs/read-path.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Small sizes so tests move few bytes: 64 KiB blocks, 256 KiB parts, windows 64 KiB → 1 MiB. */
export const SMALL_READ_PATH: Partial<ReadPathOptions> = {
  cacheSizeBytes: 8 * MiB,
  blockSizeBytes: 64 * KiB,
  partSizeBytes: 256 * KiB,
  initialWindowBytes: 64 * KiB,
  maxWindowBytes: 1 * MiB,
  smallObjectThresholdBytes: 16 * KiB,
  sequentialToleranceBytes: 64 * KiB,
};

export function patterned(sizeBytes: number, seed = 13): Buffer {
  const data = Buffer.alloc(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 1) data[i] = (i * seed + (i >> 12)) % 251;
  return data;
}

/** A bucket, one shared cache, and a way to open readers on it. */
export function readPathSetup(overrides: Partial<ReadPathOptions> = {}) {
  const options = resolveReadPathOptions({ ...SMALL_READ_PATH, ...overrides });
  const bucket = new MemoryBucket();
  const cache = blockCacheFor(options);
  const namespace = cache.newNamespace();
  let opens = 0;
  const open = async (key: string): Promise<PrefetchingReader> => {
    const info = await bucket.head(key);
    const snapshot: ObjectSnapshot = { key, size: info.size, version: info.version };
    opens += 1;
    return new PrefetchingReader(cache, bucket, snapshot, objectIdOf(namespace, snapshot, opens), options);
  };
  return { bucket, cache, options, open };
}

/** Reads `[0, size)` in `chunkBytes` reads; returns the bytes and, per read, the GETs it started. */
export async function readSequentially(reader: PrefetchingReader, bucket: MemoryBucket, size: number, chunkBytes: number, from = 0) {
  const out = Buffer.alloc(size - from);
  const startedPerRead: { position: number; gets: { offset: number; length: number | undefined }[] }[] = [];
  const chunk = Buffer.alloc(chunkBytes);
  for (let position = from; position < size; ) {
    const before = bucket.getRequests.length;
    const count = await reader.read(chunk, chunkBytes, position);
    if (count === 0) break;
    chunk.copy(out, position - from, 0, count);
    startedPerRead.push({ position, gets: bucket.getRequests.slice(before).map(({ offset, length }) => ({ offset, length })) });
    position += count;
  }
  return { out, startedPerRead };
}
