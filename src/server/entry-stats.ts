import { statSync, type BigIntStats } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { objectVersion } from './object-props.js';

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
  private readonly sizes: Float64Array;
  private readonly mtimes: BigInt64Array;
  private readonly versions: (string | undefined)[];

  constructor(length: number) {
    this.takenAtMs = new Float64Array(length);
    this.sizes = new Float64Array(length);
    this.mtimes = new BigInt64Array(length);
    this.versions = new Array<string | undefined>(length);
  }

  /** Undefined when not known or too old; null when the file was gone when last looked at. */
  fresh(index: number, nowMs: number, maxAgeMs: number): FileFacts | null | undefined {
    const takenAtMs = this.takenAtMs[index] ?? 0;
    if (takenAtMs === 0 || nowMs - takenAtMs >= maxAgeMs) return undefined;
    const version = this.versions[index];
    if (version === undefined) return null;
    return { sizeBytes: this.sizes[index] ?? 0, version, mtimeNs: this.mtimes[index] ?? 0n };
  }

  remember(index: number, facts: FileFacts | null, nowMs: number): void {
    this.takenAtMs[index] = nowMs;
    this.versions[index] = facts?.version;
    if (facts === null) return;
    this.sizes[index] = facts.sizeBytes;
    this.mtimes[index] = facts.mtimeNs;
  }
}

function factsOf(stats: BigIntStats): FileFacts {
  return { sizeBytes: Number(stats.size), version: objectVersion(stats), mtimeNs: stats.mtimeNs };
}

/** Stats between two turns of the event loop: other requests wait at most this many stats. */
const STATS_PER_TURN = 512;

/**
 * Stats the files of one page, synchronously in slices: a stat of a cached inode costs less than the trip
 * through the thread pool an asynchronous one takes, and the slices keep the server answering other requests.
 * Null for a file that is gone (deleted since its folder was read) or cannot be read.
 */
export async function statFiles(requests: readonly StatRequest[], nowMs: number): Promise<(FileFacts | null)[]> {
  const facts: (FileFacts | null)[] = [];
  for (let start = 0; start < requests.length; start += STATS_PER_TURN) {
    if (start > 0) await nextTurn();
    for (const request of requests.slice(start, start + STATS_PER_TURN)) {
      let stats: BigIntStats | undefined;
      try {
        stats = statSync(request.path, { bigint: true, throwIfNoEntry: false });
      } catch {
        stats = undefined;
      }
      const fact = stats?.isFile() ? factsOf(stats) : null;
      request.stats.remember(request.index, fact, nowMs);
      facts.push(fact);
    }
  }
  return facts;
}
