import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagingArea } from '../../src/fs/staging-area.js';
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

/** A staging area in a fresh temporary folder; `remove` deletes the folder. */
export async function makeStaging(maxBytes?: number): Promise<{ staging: StagingArea; dir: string; log: ReturnType<typeof capturingLogger>; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'bucketfs-staging-'));
  const log = capturingLogger();
  const staging = await StagingArea.open({ dir, logger: log.logger, ...(maxBytes !== undefined ? { maxBytes } : {}) });
  return { staging, dir, log, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A filesystem over a memory bucket with writes on, and its staging folder (removed by `remove`). */
export async function makeWritableFilesystem(overrides: Partial<BucketFilesystemOptions> = {}, options: { allowOverwrite?: boolean; maxStagingBytes?: number } = {}) {
  const area = await makeStaging(options.maxStagingBytes);
  const made = makeFilesystem({ writes: { staging: area.staging, allowOverwrite: options.allowOverwrite ?? false }, ...overrides });
  return { ...made, staging: area.staging, stagingDir: area.dir, remove: area.remove };
}
