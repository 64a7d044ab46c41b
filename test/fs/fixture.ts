import { capturingLogger } from '../helpers/logging.js';
import { manualClock } from '../helpers/clock.js';
import { createBucketFilesystem, type BucketFilesystemOptions } from '../../src/fs/bucket-filesystem.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';

export { capturingLogger } from '../helpers/logging.js';
export { manualClock } from '../helpers/clock.js';

export function makeFilesystem(overrides: Partial<BucketFilesystemOptions> = {}) {
  const bucket = new MemoryBucket();
  const clock = manualClock();
  const log = capturingLogger();
  const fs = createBucketFilesystem({
    client: bucket,
    uid: 1234,
    gid: 5678,
    metadataTtlMs: 60_000,
    negativeMetadataTtlMs: 5_000,
    allowDelete: false,
    logger: log.logger,
    now: clock.now,
    ...overrides,
  });
  return { bucket, clock, fs, log };
}

/** The errno a promise rejects with, or 'resolved'. */
export async function errnoOf(promise: Promise<unknown>): Promise<number | 'resolved'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { errno?: number }).errno ?? -1;
  }
}

/** Reads a whole file through the filesystem with reads of `chunkBytes`. */
export async function readAll(fs: { read: (fh: number, b: Buffer, l: number, p: number) => Promise<number> }, fh: number, chunkBytes = 4096): Promise<Buffer> {
  const parts: Buffer[] = [];
  let position = 0;
  for (;;) {
    const chunk = Buffer.alloc(chunkBytes);
    const count = await fs.read(fh, chunk, chunkBytes, position);
    if (count === 0) return Buffer.concat(parts);
    parts.push(chunk.subarray(0, count));
    position += count;
  }
}
