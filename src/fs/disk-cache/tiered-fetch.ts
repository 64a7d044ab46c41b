import type { PooledBuffer } from '../buffer-pool.js';
import { ByteChunks } from '../byte-chunks.js';
import type { CachedObject } from './disk-cache.js';

/** As the block cache's `RangeFetcher`: `length` bytes at `offset`, read into `into` where it can. */
type Fetch = (offset: number, length: number, signal: AbortSignal, into?: readonly Buffer[]) => Promise<ByteChunks>;

/**
 * Fills the block-sized `views` (of the pooled buffers `memory`, blocks `firstIndex, firstIndex + 1, ...` of
 * `disk`'s object) from the disk cache where it holds them, and the rest from the store, one GET per run of
 * missing blocks, in parallel. Blocks that came from the store are written to the disk cache behind the read.
 * Returns the bytes, which live in `views`.
 */
export async function fetchThroughDisk(
  disk: CachedObject,
  firstIndex: number,
  memory: readonly PooledBuffer[],
  views: readonly Buffer[],
  fetch: Fetch,
  signal: AbortSignal,
): Promise<ByteChunks> {
  if (views.length === 1) {
    // A small file's read, the usual case: no combinators of promises for one block.
    if (!(await disk.readBlock(firstIndex, views[0] as Buffer))) await fetchMissing(disk, firstIndex, 0, memory, views, fetch, signal);
    return ByteChunks.of(views);
  }
  const found = await Promise.all(views.map((view, i) => disk.readBlock(firstIndex + i, view)));
  // Every GET is over before this returns or throws: a failure frees the buffers, which no GET may still fill.
  await allSettledOrThrow(
    missingRuns(found).map(({ start, end }) => fetchMissing(disk, firstIndex, start, memory.slice(start, end), views.slice(start, end), fetch, signal)),
  );
  return ByteChunks.of(views);
}

/** The runs `[start, end)` of blocks not `found`, in order: one GET each. */
export function missingRuns(found: readonly boolean[]): { start: number; end: number }[] {
  const runs: { start: number; end: number }[] = [];
  for (let start = 0; start < found.length; ) {
    if (found[start] === true) {
      start += 1;
      continue;
    }
    let end = start + 1;
    while (end < found.length && found[end] !== true) end += 1;
    runs.push({ start, end });
    start = end;
  }
  return runs;
}

/** Waits for every one of `work`, then throws the first failure, if any. */
export async function allSettledOrThrow(work: readonly Promise<unknown>[]): Promise<void> {
  const failure = (await Promise.allSettled(work)).find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}

async function fetchMissing(
  disk: CachedObject,
  firstIndex: number,
  start: number,
  memory: readonly PooledBuffer[],
  views: readonly Buffer[],
  fetch: Fetch,
  signal: AbortSignal,
): Promise<void> {
  const length = views.reduce((sum, view) => sum + view.length, 0);
  const data = await fetch((firstIndex + start) * disk.blockBytes, length, signal, views);
  // A short body is the store's to explain (the reader fails it): such bytes are never cached.
  const whole = data.length === length;
  views.forEach((view, i) => {
    const from = i * disk.blockBytes;
    if (!data.liesIn(view, from)) data.copyTo(view, 0, from, from + view.length);
    if (whole) disk.storeBlock(firstIndex + start + i, view, memory[i]);
  });
}
