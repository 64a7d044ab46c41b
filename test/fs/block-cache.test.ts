import { describe, expect, it } from 'vitest';
import { BlockCache, type RangeFetcher } from '../../src/fs/block-cache.js';
import { ByteChunks } from '../../src/fs/byte-chunks.js';
import { waitUntil } from '../helpers/mount.js';
import { makeFilesystem, readAll } from './fixture.js';
import { KiB, MiB, SMALL_READ_PATH, patterned, readPathSetup, readSequentially } from './read-path-fixture.js';

describe('BlockCache shared by the open files of a mount', () => {
  it('two readers of one block cause one GET', async () => {
    const { bucket, fs } = makeFilesystem({ readPath: SMALL_READ_PATH });
    const data = patterned(4 * MiB);
    bucket.set('shared', data);
    const first = await fs.open('/shared', 0);
    const second = await fs.open('/shared', 0);
    const release = bucket.pause('get');
    const a = Buffer.alloc(4 * KiB);
    const b = Buffer.alloc(4 * KiB);
    const reads = Promise.all([fs.read(first.fh, a, a.length, 0), fs.read(second.fh, b, b.length, 8 * KiB)]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    release();
    expect(await reads).toEqual([4 * KiB, 4 * KiB]);
    expect(a.equals(data.subarray(0, 4 * KiB))).toBe(true);
    expect(b.equals(data.subarray(8 * KiB, 12 * KiB))).toBe(true);
    expect(bucket.calls.get).toBe(1);
    // A third open file reading the same block later is served from the cache.
    const third = await fs.open('/shared', 0);
    expect(await fs.read(third.fh, a, a.length, 16 * KiB)).toBe(4 * KiB);
    expect(bucket.calls.get).toBe(1);
    expect(fs.readStats()).toMatchObject({ cacheHits: 1, cacheMisses: 2, bytesFetched: 64 * KiB });
    for (const { fh } of [first, second, third]) await fs.release(fh);
    await fs.close();
  });

  it('two buckets sharing one cache never see each other\'s blocks, even with the same key, version and size', async () => {
    const cache = new BlockCache({ budgetBytes: 8 * MiB, blockSizeBytes: 64 * KiB });
    const a = makeFilesystem({ blockCache: cache, readPath: SMALL_READ_PATH });
    const b = makeFilesystem({ blockCache: cache, readPath: SMALL_READ_PATH });
    const dataA = patterned(200 * KiB, 3);
    const dataB = patterned(200 * KiB, 5);
    a.bucket.set('same', dataA);
    b.bucket.set('same', dataB);
    const fileA = await a.fs.open('/same', 0);
    const fileB = await b.fs.open('/same', 0);
    expect((await readAll(a.fs, fileA.fh, 32 * KiB)).equals(dataA)).toBe(true);
    expect((await readAll(b.fs, fileB.fh, 32 * KiB)).equals(dataB)).toBe(true);
    expect(b.bucket.calls.get).toBeGreaterThan(0);
    // Both report the one shared cache; closing a filesystem leaves a cache it does not own open.
    await a.fs.close();
    expect(b.fs.readStats()).toEqual(cache.stats());
    expect(cache.stats().cachedBytes).toBeGreaterThan(0);
    await b.fs.close();
    cache.close();
  });

  it('a changed object is read at its new version after reopening, never from the old blocks', async () => {
    const { bucket, clock, fs } = makeFilesystem({ metadataTtlMs: 1_000, readPath: SMALL_READ_PATH });
    const one = patterned(300 * KiB, 3);
    const two = patterned(300 * KiB, 5);
    bucket.set('v', one);
    const first = await fs.open('/v', 0);
    expect((await readAll(fs, first.fh, 32 * KiB)).equals(one)).toBe(true);
    await fs.release(first.fh);
    bucket.set('v', two);
    clock.advance(1_000);
    bucket.resetCalls();
    const second = await fs.open('/v', 0);
    expect(second.keepCache).toBe(false);
    expect((await readAll(fs, second.fh, 32 * KiB)).equals(two)).toBe(true);
    expect(bucket.calls.get).toBeGreaterThan(0);
    await fs.release(second.fh);
    await fs.close();
  });

  it('keeps cache plus in-flight bytes within the budget under many concurrent readers of different files', async () => {
    const budgetBytes = 1 * MiB;
    const { bucket, cache, open } = readPathSetup({ cacheSizeBytes: budgetBytes, partSizeBytes: 128 * KiB, maxWindowBytes: 512 * KiB });
    const files = Array.from({ length: 12 }, (_, i) => patterned(1 * MiB + i * 7 * KiB, 3 + i));
    files.forEach((data, i) => bucket.set(`f${i}`, data));
    let peakBytes = 0;
    const observe = (): void => {
      const stats = cache.stats();
      peakBytes = Math.max(peakBytes, stats.cachedBytes + stats.inflightBytes);
    };
    const get = bucket.get.bind(bucket);
    bucket.get = async (key, range) => {
      observe();
      const result = await get(key, range);
      observe();
      return result;
    };
    const results = await Promise.all(
      files.map(async (data, i) => {
        const reader = await open(`f${i}`);
        const chunk = Buffer.alloc(16 * KiB);
        const out = Buffer.alloc(data.length);
        for (let position = 0; position < data.length; ) {
          const count = await reader.read(chunk, chunk.length, position);
          chunk.copy(out, position, 0, count);
          position += count;
          observe();
        }
        reader.close();
        return out.equals(data);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    expect(peakBytes).toBeGreaterThan(budgetBytes / 2);
    expect(peakBytes).toBeLessThanOrEqual(budgetBytes);
    const stats = cache.stats();
    expect(stats.cacheEvictions).toBeGreaterThan(0);
    expect(stats.cachedBytes + stats.inflightBytes).toBeLessThanOrEqual(budgetBytes);
    expect(stats.inflightBytes).toBe(0);
  });

  it('counts prefetched bytes nobody read as waste when they are dropped', async () => {
    const { bucket, cache, open } = readPathSetup();
    bucket.set('big', patterned(4 * MiB));
    bucket.set('whole', patterned(2 * MiB));
    const whole = await open('whole');
    await readSequentially(whole, bucket, 2 * MiB, 16 * KiB);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(cache.stats().prefetchedBytes).toBeGreaterThan(0);
    const partial = await open('big');
    await readSequentially(partial, bucket, 256 * KiB, 16 * KiB);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = cache.stats();
    expect(before.prefetchWasteBytes).toBe(0);
    cache.close();
    const after = cache.stats();
    // Only the stream that stopped early left unread prefetched blocks.
    expect(after.prefetchWasteBytes).toBeGreaterThan(0);
    expect(after.prefetchWasteBytes).toBeLessThanOrEqual(4 * MiB - 256 * KiB);
    expect(after.cachedBytes).toBe(0);
  });
});

describe('BlockCache memory', () => {
  it('reads every GET body into the pool, whose buffers never add up to more than the budget', async () => {
    const budgetBytes = 1 * MiB;
    const { bucket, open, options } = readPathSetup({ cacheSizeBytes: budgetBytes, partSizeBytes: 128 * KiB, maxWindowBytes: 512 * KiB });
    const files = Array.from({ length: 6 }, (_, i) => patterned(1 * MiB + i * 5 * KiB + 3, 3 + i));
    files.forEach((data, i) => bucket.set(`f${i}`, data));
    const memories = new Set<ArrayBufferLike>();
    let getsOutsideThePool = 0;
    const get = bucket.get.bind(bucket);
    bucket.get = async (key, range, requestOptions) => {
      const offer = requestOptions?.bodyBuffer?.(range?.length ?? 0);
      const offered = offer === undefined || !Buffer.isBuffer(offer) ? offer : [offer];
      if (offered === undefined) getsOutsideThePool += 1;
      for (const buffer of offered ?? []) memories.add(buffer.buffer);
      return get(key, range, requestOptions);
    };
    // Streams that drop the blocks behind them, beside a reader that seeks at random (exact GETs).
    const streams = files.map(async (data, i) => (await readSequentially(await open(`f${i}`), bucket, data.length, (16 + i) * KiB)).out.equals(data));
    const random = (async () => {
      const reader = await open('f0');
      const target = Buffer.alloc(40 * KiB);
      for (let i = 0; i < 20; i += 1) {
        const position = (i * 104_729) % (files[0]!.length - target.length);
        expect(await reader.read(target, target.length, position)).toBe(target.length);
        if (!target.equals(files[0]!.subarray(position, position + target.length))) return false;
      }
      return true;
    })();
    expect(await Promise.all([...streams, random])).toEqual(Array(files.length + 1).fill(true));
    expect(getsOutsideThePool).toBe(0);
    expect(memories.size).toBeGreaterThan(1);
    expect(memories.size * options.blockSizeBytes).toBeLessThanOrEqual(budgetBytes);
  });

  it('a demand fetch waiting while fetches in flight hold every buffer starts once they land in the cache', async () => {
    const blockBytes = 64 * KiB;
    const cache = new BlockCache({ budgetBytes: 2 * blockBytes, blockSizeBytes: blockBytes });
    const answers: (() => void)[] = [];
    const fetch: RangeFetcher = (_offset, _length, _signal, into) =>
      new Promise((resolve) => answers.push(() => resolve(ByteChunks.of(into ?? []))));
    expect(cache.startRun({ objectId: 'a', firstIndex: 0, count: 1, lengthBytes: blockBytes }, 'prefetch', fetch)).toBe(true);
    expect(cache.startRun({ objectId: 'a', firstIndex: 1, count: 1, lengthBytes: blockBytes }, 'prefetch', fetch)).toBe(true);
    cache.startRun({ objectId: 'b', firstIndex: 0, count: 2, lengthBytes: 2 * blockBytes }, 'demand', fetch);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answers).toHaveLength(2);
    for (const answer of answers.splice(0)) answer();
    await waitUntil(() => answers.length === 1, 5_000, 'the demand GET to start');
    answers[0]!();
    expect((await cache.block('b', 1))?.length).toBe(blockBytes);
    cache.close();
  });

  it('a cache needs room for at least one block', () => {
    expect(() => new BlockCache({ budgetBytes: 1000, blockSizeBytes: 4096 })).toThrow(RangeError);
  });
});
