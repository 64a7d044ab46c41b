import { totalmem } from 'node:os';
import { MEMORY_OVERHEAD_BYTES } from './memory-bound.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Sizes of the read path; see README's performance section for how the defaults were chosen. */
export interface ReadPathOptions {
  /** Bytes of cached blocks plus GETs in flight, for the whole mount. */
  readonly cacheSizeBytes: number;
  /** Unit of the shared cache: a sequential read first fetches the block it falls in. */
  readonly blockSizeBytes: number;
  /** Largest GET; a window is fetched as parallel GETs of this size. */
  readonly partSizeBytes: number;
  /** First prefetch window of a stream (and after a far seek). */
  readonly initialWindowBytes: number;
  /** The window doubles up to this while the reader keeps up. */
  readonly maxWindowBytes: number;
  /** Objects this small are fetched whole by their first read. */
  readonly smallObjectThresholdBytes: number;
  /** A read this close to where the stream's last read ended still continues the stream. */
  readonly sequentialToleranceBytes: number;
}

/**
 * What leaves the whole mount (cache and overhead, see `memoryBoundBytes`) within a quarter of the machine's
 * memory, at most 512 MiB: a mount is one process among a training job's. At least 64 MiB.
 */
export function defaultCacheSizeBytes(totalMemoryBytes: number = totalmem()): number {
  const shareBytes = Math.min(512 * MiB, Math.floor(totalMemoryBytes / 4));
  return Math.max(64 * MiB, shareBytes - MEMORY_OVERHEAD_BYTES);
}

export const DEFAULT_READ_PATH: ReadPathOptions = Object.freeze({
  cacheSizeBytes: defaultCacheSizeBytes(),
  blockSizeBytes: 1 * MiB,
  partSizeBytes: 8 * MiB,
  initialWindowBytes: 1 * MiB,
  maxWindowBytes: 64 * MiB,
  smallObjectThresholdBytes: 1 * MiB,
  // Kernel readahead (read_ahead_kb up to a few MiB) sends a stream's requests somewhat out of order.
  sequentialToleranceBytes: 4 * MiB,
});

export class ReadPathOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReadPathOptionsError';
  }
}

/**
 * Fills in defaults and makes the sizes consistent: a part is whole blocks, a small object fits
 * one part, and the budget holds at least two parts (a demand fetch must always fit).
 */
export function resolveReadPathOptions(overrides: Partial<ReadPathOptions> = {}): ReadPathOptions {
  const merged: ReadPathOptions = { ...DEFAULT_READ_PATH, ...stripUndefined(overrides) };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new ReadPathOptionsError(`${name}: expected a byte count, got ${value}`);
  }
  const blockSizeBytes = Math.max(4 * KiB, merged.blockSizeBytes);
  const partSizeBytes = Math.max(blockSizeBytes, Math.floor(merged.partSizeBytes / blockSizeBytes) * blockSizeBytes);
  if (merged.cacheSizeBytes < 2 * partSizeBytes) {
    throw new ReadPathOptionsError(`cache size ${merged.cacheSizeBytes} bytes: must hold at least two parts (${2 * partSizeBytes} bytes)`);
  }
  const initialWindowBytes = Math.max(blockSizeBytes, merged.initialWindowBytes);
  return {
    ...merged,
    blockSizeBytes,
    partSizeBytes,
    initialWindowBytes,
    maxWindowBytes: Math.max(initialWindowBytes, Math.min(merged.maxWindowBytes, Math.floor(merged.cacheSizeBytes / 2))),
    smallObjectThresholdBytes: Math.min(merged.smallObjectThresholdBytes, partSizeBytes),
  };
}

function stripUndefined<T extends object>(value: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}
