import type { BucketClient } from '../../store/bucket-client.js';
import { toFsError } from '../errno.js';
import { fetchRangeChunks, type ObjectSnapshot } from '../read-path.js';
import type { DiskCache, ObjectKey } from './disk-cache.js';
import { blockBuffer } from './block-writer.js';
import { allSettledOrThrow, missingRuns } from './tiered-fetch.js';

/** An object to cache: a listing entry. */
export interface WarmObject {
  readonly key: string;
  readonly size: number;
  readonly version: string | undefined;
}

export interface WarmOptions {
  readonly client: BucketClient;
  readonly cache: DiskCache;
  /** How the cache names the store and bucket (as the mount does). */
  readonly endpoint: string;
  readonly bucket: string;
  readonly objects: readonly WarmObject[];
  /** The mount's block size: the unit written. */
  readonly blockBytes: number;
  /** The mount's part size: the unit fetched (whole blocks). */
  readonly partBytes: number;
  /** GETs in flight at once. */
  readonly parallel: number;
  /** Called as bytes are cached (fetched or found cached already), with the running total. */
  readonly onProgress?: (doneBytes: number) => void;
}

export interface WarmReport {
  /** Objects now cached whole. */
  readonly cachedFiles: number;
  /** Bytes of those objects. */
  readonly cachedBytes: number;
  /** Bytes fetched from the store by this run (the rest were cached already). */
  readonly fetchedBytes: number;
  /** Objects not cached, each with why (one reason per object). */
  readonly failures: readonly { readonly key: string; readonly reason: string }[];
}

interface PartTask {
  readonly object: WarmObject;
  readonly key: ObjectKey;
  readonly offset: number;
  readonly length: number;
}

/**
 * Writes every block of `objects` to the disk cache, fetching parts in parallel (`parallel` GETs in flight):
 * what `bucketfs prefetch` does ahead of a job. Blocks already cached whole are not fetched again: an object's
 * folder is listed once, and only the blocks it names are opened and checked. Each lane reads its GETs into one
 * buffer of its own, reused part after part, and writes the blocks from there: no fresh memory per part, no
 * copy. An object without a version cannot be cached (nothing would tell its changed bytes apart); a failed GET
 * or write fails its object only, and a disk error that turns the cache off fails what is left.
 */
export async function warmCache(options: WarmOptions): Promise<WarmReport> {
  const { cache, blockBytes } = options;
  const partBytes = Math.max(blockBytes, Math.floor(options.partBytes / blockBytes) * blockBytes);
  const failed = new Map<string, string>();
  const tasks: PartTask[] = [];
  for (const object of options.objects) {
    if (object.version === undefined) {
      failed.set(object.key, 'the store gave no version');
      continue;
    }
    const key: ObjectKey = { endpoint: options.endpoint, bucket: options.bucket, object: object.key, version: object.version, size: object.size, blockBytes };
    for (let offset = 0; offset < object.size; offset += partBytes) tasks.push({ object, key, offset, length: Math.min(partBytes, object.size - offset) });
  }
  const listed = new Map<string, Promise<ReadonlySet<number>>>();
  const blocksNamed = (task: PartTask): Promise<ReadonlySet<number>> => {
    let names = listed.get(task.object.key);
    if (names === undefined) {
      names = cache.listedBlocks(task.key);
      listed.set(task.object.key, names);
    }
    return names;
  };
  let doneBytes = 0;
  let fetchedBytes = 0;
  let next = 0;
  const runTask = async (task: PartTask, laneBuffer: Buffer): Promise<void> => {
    if (failed.has(task.object.key)) return;
    if (!cache.isEnabled) {
      failed.set(task.object.key, 'the disk cache was turned off');
      return;
    }
    const firstIndex = task.offset / blockBytes;
    const blockCount = Math.ceil(task.length / blockBytes);
    const lengthOf = (i: number): number => Math.min(blockBytes, task.length - i * blockBytes);
    const named = await blocksNamed(task);
    const present = await Promise.all(
      Array.from({ length: blockCount }, (_, i) => named.has(firstIndex + i) && cache.hasBlock({ ...task.key, blockIndex: firstIndex + i }, lengthOf(i))),
    );
    const snapshot: ObjectSnapshot = { key: task.object.key, size: task.object.size, version: task.object.version };
    const views = Array.from({ length: blockCount }, (_, i) => laneBuffer.subarray(i * blockBytes, i * blockBytes + lengthOf(i)));
    // One GET per run of blocks missing, in parallel: a rerun after a few blocks went fetches only those.
    await allSettledOrThrow(missingRuns(present).map(({ start, end }) => fetchBlocks(task, snapshot, firstIndex + start, views.slice(start, end))));
    doneBytes += task.length;
    options.onProgress?.(doneBytes);
  };
  /** Blocks `firstIndex, firstIndex + 1, ...` (as long as `views`), fetched into `views` and written. */
  const fetchBlocks = async (task: PartTask, snapshot: ObjectSnapshot, firstIndex: number, views: readonly Buffer[]): Promise<void> => {
    const length = views.reduce((sum, view) => sum + view.length, 0);
    const data = await fetchRangeChunks(options.client, snapshot, firstIndex * blockBytes, length, undefined, views);
    if (data.length !== length) throw new Error(`the store sent ${data.length} of ${length} bytes`);
    fetchedBytes += data.length;
    const written = await Promise.all(
      views.map((view, i) => {
        if (!data.liesIn(view, i * blockBytes)) data.copyTo(view, 0, i * blockBytes, i * blockBytes + view.length);
        return cache.writeBlock({ ...task.key, blockIndex: firstIndex + i }, view);
      }),
    );
    if (!written.every(Boolean)) throw new Error('the disk cache was turned off');
  };
  const laneBytes = tasks.reduce((largest, task) => Math.max(largest, task.length), 0);
  const worker = async (): Promise<void> => {
    let laneBuffer: Buffer | undefined;
    while (next < tasks.length) {
      const task = tasks[next]!;
      next += 1;
      // Memory of its own (not a slice of the shared pool), faulted in once and reused.
      laneBuffer ??= blockBuffer(laneBytes);
      try {
        await runTask(task, laneBuffer);
      } catch (error) {
        if (!failed.has(task.object.key)) failed.set(task.object.key, toFsError(error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.parallel) }, worker));
  const cachedObjects = options.objects.filter((object) => !failed.has(object.key));
  return {
    cachedFiles: cachedObjects.length,
    cachedBytes: cachedObjects.reduce((sum, object) => sum + object.size, 0),
    fetchedBytes,
    failures: [...failed].map(([key, reason]) => ({ key, reason })),
  };
}
