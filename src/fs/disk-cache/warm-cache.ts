import type { BucketClient } from '../../store/bucket-client.js';
import { toFsError } from '../errno.js';
import { fetchRange, type ObjectSnapshot } from '../read-path.js';
import type { DiskCache, ObjectKey } from './disk-cache.js';

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
 * what `bucketfs prefetch` does ahead of a job. Blocks already cached whole are not fetched again. An object
 * without a version cannot be cached (nothing would tell its changed bytes apart); a failed GET or write fails
 * its object only, and a disk error that turns the cache off fails what is left.
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
  let doneBytes = 0;
  let fetchedBytes = 0;
  let next = 0;
  const runTask = async (task: PartTask): Promise<void> => {
    if (failed.has(task.object.key)) return;
    if (!cache.isEnabled) {
      failed.set(task.object.key, 'the disk cache was turned off');
      return;
    }
    const firstIndex = task.offset / blockBytes;
    const blockCount = Math.ceil(task.length / blockBytes);
    const lengthOf = (i: number): number => Math.min(blockBytes, task.length - i * blockBytes);
    const present = await Promise.all(Array.from({ length: blockCount }, (_, i) => cache.hasBlock({ ...task.key, blockIndex: firstIndex + i }, lengthOf(i))));
    if (!present.every(Boolean)) {
      const snapshot: ObjectSnapshot = { key: task.object.key, size: task.object.size, version: task.object.version };
      const data = await fetchRange(options.client, snapshot, task.offset, task.length);
      fetchedBytes += data.length;
      const written = await Promise.all(
        present.map((cached, i) => cached || cache.writeBlock({ ...task.key, blockIndex: firstIndex + i }, data.subarray(i * blockBytes, i * blockBytes + lengthOf(i)))),
      );
      if (!written.every(Boolean)) throw new Error('the disk cache was turned off');
    }
    doneBytes += task.length;
    options.onProgress?.(doneBytes);
  };
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next]!;
      next += 1;
      try {
        await runTask(task);
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
