import { parseByteSize } from '../byte-size.js';

/**
 * How big the disk cache may grow: a size, a share of its file system, or (the default) whatever keeps a share
 * of that file system free, as mountpoint-s3 does.
 */
export type CacheLimit =
  | { readonly kind: 'bytes'; readonly bytes: number }
  | { readonly kind: 'share'; readonly percent: number }
  | { readonly kind: 'keep-free'; readonly percent: number };

export const DEFAULT_KEEP_FREE_PERCENT = 5;
export const DEFAULT_CACHE_LIMIT: CacheLimit = Object.freeze({ kind: 'keep-free', percent: DEFAULT_KEEP_FREE_PERCENT });

export class CacheLimitError extends Error {
  constructor(text: string) {
    super(`expected a size such as 10G or a share of the disk such as 20%, got ${JSON.stringify(text)}`);
    this.name = 'CacheLimitError';
  }
}

/** `10G`, `512MiB` or `1048576` (bytes), or `20%` (of the cache's file system). */
export function parseCacheLimit(text: string): CacheLimit {
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (percent?.[1] !== undefined) {
    const value = Number(percent[1]);
    if (!(value > 0 && value <= 100)) throw new CacheLimitError(text);
    return { kind: 'share', percent: value };
  }
  try {
    const bytes = parseByteSize(text);
    if (bytes <= 0) throw new CacheLimitError(text);
    return { kind: 'bytes', bytes };
  } catch {
    throw new CacheLimitError(text);
  }
}

/** What the file system holding the cache says of itself (from `statfs`). */
export interface DiskSpace {
  readonly totalBytes: number;
  /** Bytes an unprivileged writer may still take. */
  readonly availableBytes: number;
}

/** The limit in bytes now, given the disk and what the cache holds on it (`cacheBytes`). */
export function limitBytes(limit: CacheLimit, disk: DiskSpace, cacheBytes: number): number {
  switch (limit.kind) {
    case 'bytes':
      return limit.bytes;
    case 'share':
      return Math.floor((disk.totalBytes * limit.percent) / 100);
    case 'keep-free':
      return Math.max(0, Math.floor(cacheBytes + disk.availableBytes - (disk.totalBytes * limit.percent) / 100));
  }
}

export function describeLimit(limit: CacheLimit): string {
  switch (limit.kind) {
    case 'bytes':
      return `${limit.bytes} bytes`;
    case 'share':
      return `${limit.percent}% of the disk`;
    case 'keep-free':
      return `keep ${limit.percent}% of the disk free`;
  }
}
