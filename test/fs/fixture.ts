import { pino, type Logger } from 'pino';
import { createBucketFilesystem, type BucketFilesystemOptions } from '../../src/fs/bucket-filesystem.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';

export interface CapturedLog {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A pino logger whose lines land in an array, to assert warnings. */
export function capturingLogger(): { logger: Logger; lines: CapturedLog[] } {
  const lines: CapturedLog[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLog) });
  return { logger, lines };
}

/** A controllable clock for TTL tests. */
export function manualClock(startMs = 1_800_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let current = startMs;
  return { now: () => current, advance: (ms) => void (current += ms) };
}

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
