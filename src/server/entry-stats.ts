import { lstat, lstatSync, type BigIntStats } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { VERSION_DIGEST_BYTES, objectVersionDigest } from './object-props.js';

/** What a listing reports of a file, from one stat. */
export interface FileFacts {
  readonly sizeBytes: number;
  readonly version: string;
  readonly mtimeNs: bigint;
}

/** A file whose facts are wanted: where it is, and where its facts are kept between listings. */
export interface StatRequest {
  readonly path: string;
  readonly stats: EntryStats;
  readonly index: number;
}

/**
 * The facts of one folder's files, kept beside its sorted names so that later pages and listings need no stat.
 * A fact older than `maxAgeMs` is taken again: a file changed in place by another program (no PUT, so the folder
 * itself does not change) shows its new size and version within that time.
 */
export class EntryStats {
  private readonly takenAtMs: Float64Array;
  /** -1 where the file was gone when last looked at. */
  private readonly sizes: Float64Array;
  private readonly mtimes: BigInt64Array;
  private readonly versionDigests: Buffer;

  constructor(length: number) {
    this.takenAtMs = new Float64Array(length);
    this.sizes = new Float64Array(length);
    this.mtimes = new BigInt64Array(length);
    this.versionDigests = Buffer.alloc(length * VERSION_DIGEST_BYTES);
  }

  /** Undefined when not known or too old; null when the file was gone when last looked at. */
  fresh(index: number, nowMs: number, maxAgeMs: number): FileFacts | null | undefined {
    const takenAtMs = this.takenAtMs[index] ?? 0;
    if (takenAtMs === 0 || nowMs - takenAtMs >= maxAgeMs) return undefined;
    const sizeBytes = this.sizes[index] ?? -1;
    if (sizeBytes < 0) return null;
    const version = this.versionDigests.toString('hex', index * VERSION_DIGEST_BYTES, (index + 1) * VERSION_DIGEST_BYTES);
    return { sizeBytes, version, mtimeNs: this.mtimes[index] ?? 0n };
  }

  remember(index: number, stats: BigIntStats | undefined, nowMs: number): FileFacts | null {
    this.takenAtMs[index] = nowMs;
    if (stats === undefined || !stats.isFile()) {
      this.sizes[index] = -1;
      return null;
    }
    const digest = objectVersionDigest(stats);
    digest.copy(this.versionDigests, index * VERSION_DIGEST_BYTES);
    const facts = { sizeBytes: Number(stats.size), version: digest.toString('hex'), mtimeNs: stats.mtimeNs };
    this.sizes[index] = facts.sizeBytes;
    this.mtimes[index] = facts.mtimeNs;
    return facts;
  }
}

/** Stats taken synchronously between two turns of the event loop. */
const SYNC_STATS_PER_TURN = 128;
/**
 * A synchronous slice slower than this waited for the disk (the kernel no longer caches those inodes): the rest
 * of the page is stated through the thread pool, where such waits overlap.
 */
const SLOW_SLICE_MS = 20;
/** Pool stats in flight at once: enough to keep every thread of libuv's pool busy. */
const POOL_STATS_IN_FLIGHT = 32;

/**
 * Stats the files of one page; null for a file that is gone (deleted since its folder was read) or unreadable.
 * A stat of a cached inode costs less done synchronously than the trip through the thread pool, so that comes
 * first, in slices that keep the server answering other requests. Paths are real paths (links were resolved
 * when the folder was read), so `lstat`: a file replaced by a symlink since is skipped, never followed outside.
 */
export async function statFiles(requests: readonly StatRequest[], nowMs: number): Promise<(FileFacts | null)[]> {
  const facts: (FileFacts | null)[] = [];
  while (facts.length < requests.length) {
    if (facts.length > 0) await nextTurn();
    const sliceStartMs = performance.now();
    for (const request of requests.slice(facts.length, facts.length + SYNC_STATS_PER_TURN)) {
      let stats: BigIntStats | undefined;
      try {
        stats = lstatSync(request.path, { bigint: true, throwIfNoEntry: false });
      } catch {
        stats = undefined;
      }
      facts.push(request.stats.remember(request.index, stats, nowMs));
    }
    if (performance.now() - sliceStartMs > SLOW_SLICE_MS) return facts.concat(await statInPool(requests.slice(facts.length), nowMs));
  }
  return facts;
}

function statInPool(requests: readonly StatRequest[], nowMs: number): Promise<(FileFacts | null)[]> {
  const facts = new Array<FileFacts | null>(requests.length).fill(null);
  if (requests.length === 0) return Promise.resolve(facts);
  return new Promise((resolve) => {
    let started = 0;
    let finished = 0;
    const startNext = (): void => {
      const index = started;
      const request = requests[index];
      if (request === undefined) return;
      started += 1;
      lstat(request.path, { bigint: true }, (error, stats) => {
        facts[index] = request.stats.remember(request.index, error === null ? stats : undefined, nowMs);
        finished += 1;
        if (finished === requests.length) resolve(facts);
        else startNext();
      });
    };
    for (let lane = 0; lane < POOL_STATS_IN_FLIGHT; lane += 1) startNext();
  });
}
