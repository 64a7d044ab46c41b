import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import { ServerError } from '../../src/store/errors.js';
import { errnoOf, makeFilesystem } from './fixture.js';
import { KiB, MiB, SMALL_READ_PATH, patterned, readPathSetup, readSequentially } from './read-path-fixture.js';

/** A tiny deterministic generator, so random offsets are the same on every run. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('PrefetchingReader: sequential streams', () => {
  it('streams a file with a window that starts at one block and doubles to the maximum, fetching each byte once', async () => {
    const { bucket, open, options } = readPathSetup();
    const size = 6 * MiB + 5;
    const data = patterned(size);
    bucket.set('obj', data);
    const reader = await open('obj');
    const windows: number[] = [];
    const chunk = Buffer.alloc(16 * KiB);
    const out = Buffer.alloc(size);
    for (let position = 0; position < size; ) {
      const count = await reader.read(chunk, chunk.length, position);
      chunk.copy(out, position, 0, count);
      position += count;
      windows.push(reader.currentWindowBytes);
    }
    expect(out.equals(data)).toBe(true);
    const lengths = bucket.getRequests.map((request) => request.length ?? 0);
    // The first GET is the block the first read falls in.
    expect(bucket.getRequests[0]).toEqual({ key: 'obj', offset: 0, length: options.blockSizeBytes });
    expect(Math.max(...lengths)).toBe(options.partSizeBytes);
    // Every byte fetched exactly once, in order.
    expect(lengths.reduce((sum, length) => sum + length, 0)).toBe(size);
    const offsets = bucket.getRequests.map((request) => request.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(new Set(offsets).size).toBe(offsets.length);
    // The window doubled, one step at a time, up to the maximum.
    const distinct = [...new Set(windows)];
    expect(distinct).toEqual([64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 1 * MiB]);
    expect(bucket.getRequests.length).toBeLessThan(size / (128 * KiB));
    reader.close();
  });

  it('once the window spans a part, streams in whole parts at part-aligned offsets, up to the last', async () => {
    const { bucket, open, options } = readPathSetup();
    const size = 6 * MiB + 5;
    const data = patterned(size, 3);
    bucket.set('obj', data);
    const reader = await open('obj');
    const { out } = await readSequentially(reader, bucket, size, 32 * KiB);
    expect(out.equals(data)).toBe(true);
    const steady = bucket.getRequests.filter((request) => request.offset >= 2 * options.maxWindowBytes);
    expect(steady.length).toBeGreaterThan(10);
    for (const request of steady.slice(0, -1)) {
      expect(request.offset % options.partSizeBytes).toBe(0);
      expect(request.length).toBe(options.partSizeBytes);
    }
    expect(steady.at(-1)!.offset + steady.at(-1)!.length!).toBe(size);
    reader.close();
  });

  it('reads every block into reused memory and drops the blocks it has passed, byte for byte', async () => {
    const { bucket, cache, open, options } = readPathSetup();
    const size = 12 * MiB + 3;
    const data = patterned(size, 7);
    bucket.set('long', data);
    // Two streams of one object at once, out of step, sharing the cache and the pool.
    const [one, two] = [await open('long'), await open('long')];
    const [a, b] = await Promise.all([readSequentially(one, bucket, size, 48 * KiB), readSequentially(two, bucket, size, 80 * KiB)]);
    expect(a.out.equals(data)).toBe(true);
    expect(b.out.equals(data)).toBe(true);
    const used = bucket.bodyBuffersUsed;
    expect(used.every((buffer) => buffer.length <= options.blockSizeBytes)).toBe(true);
    // 12 MiB in 64 KiB blocks, through the cache's buffers again and again.
    expect(used.length).toBeGreaterThan(12 * MiB / options.blockSizeBytes - 1);
    expect(new Set(used.map((buffer) => buffer.buffer)).size).toBeLessThan(used.length / 3);
    // Behind the streams only what a late read could still want is cached, not the 8 MiB the cache could hold.
    expect(cache.stats().cachedBytes).toBeLessThan(3 * MiB);
    one.close();
    two.close();
  });

  it('restarts small after a far seek: exact GETs until the reader streams again, then one block and a small window', async () => {
    const { bucket, open, options } = readPathSetup();
    const size = 8 * MiB;
    const data = patterned(size);
    bucket.set('obj', data);
    const reader = await open('obj');
    await readSequentially(reader, bucket, 2 * MiB, 16 * KiB);
    expect(reader.currentWindowBytes).toBe(options.maxWindowBytes);
    await new Promise((resolve) => setTimeout(resolve, 10));
    bucket.resetCalls();
    const target = Buffer.alloc(16 * KiB);
    const far = 6 * MiB + 100;
    expect(await reader.read(target, 16 * KiB, far)).toBe(16 * KiB);
    expect(target.equals(data.subarray(far, far + 16 * KiB))).toBe(true);
    expect(bucket.getRequests).toEqual([{ key: 'obj', offset: far, length: 16 * KiB }]);
    expect(reader.isSequential).toBe(false);
    // Reads that continue it stay exact while the run is within a first window (a large random read, split)...
    let position = far + 16 * KiB;
    for (; position + 16 * KiB <= far + options.initialWindowBytes; position += 16 * KiB) {
      expect(await reader.read(target, 16 * KiB, position)).toBe(16 * KiB);
      expect(target.equals(data.subarray(position, position + 16 * KiB))).toBe(true);
    }
    expect(reader.isSequential).toBe(false);
    expect(bucket.getRequests.every((request) => request.length === 16 * KiB)).toBe(true);
    // ...and past it the reader streams again, restarted at the first window.
    const exactGets = bucket.getRequests.length;
    expect(await reader.read(target, 16 * KiB, position)).toBe(16 * KiB);
    expect(target.equals(data.subarray(position, position + 16 * KiB))).toBe(true);
    expect(reader.isSequential).toBe(true);
    expect(reader.currentWindowBytes).toBe(options.initialWindowBytes);
    const blockStart = Math.floor(position / options.blockSizeBytes) * options.blockSizeBytes;
    expect(bucket.getRequests[exactGets]).toEqual({ key: 'obj', offset: blockStart, length: options.blockSizeBytes });
    reader.close();
  });

  it('a large random read split into contiguous requests costs exact GETs and no prefetched window', async () => {
    const { bucket, open, options } = readPathSetup();
    const size = 8 * MiB;
    const data = patterned(size);
    bucket.set('obj', data);
    const reader = await open('obj');
    const random = lcg(7);
    // As large as a random read can be and stay exact: one first window, in two requests.
    const readBytes = options.initialWindowBytes;
    const half = readBytes / 2;
    const target = Buffer.alloc(half);
    let asked = 0;
    for (let i = 0; i < 20; i += 1) {
      const position = 1 * MiB + Math.floor(random() * ((size - 2 * MiB) / readBytes)) * readBytes;
      for (const offset of [position, position + half]) {
        expect(await reader.read(target, half, offset)).toBe(half);
        expect(target.equals(data.subarray(offset, offset + half))).toBe(true);
        asked += half;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
    const fetched = bucket.getRequests.reduce((sum, request) => sum + (request.length ?? 0), 0);
    // The first read of the file (offset 1 MiB, far from 0) is random too: everything fetched was asked for.
    expect(fetched).toBe(asked);
    reader.close();
  });

  it('treats reads near the cursor, out of order, as the same stream', async () => {
    const { bucket, open } = readPathSetup();
    const data = patterned(1 * MiB);
    bucket.set('obj', data);
    const reader = await open('obj');
    const a = Buffer.alloc(16 * KiB);
    const b = Buffer.alloc(16 * KiB);
    await reader.read(a, a.length, 0);
    const [later, earlier] = await Promise.all([reader.read(b, b.length, 32 * KiB), reader.read(a, a.length, 16 * KiB)]);
    expect([later, earlier]).toEqual([16 * KiB, 16 * KiB]);
    expect(b.equals(data.subarray(32 * KiB, 48 * KiB))).toBe(true);
    expect(a.equals(data.subarray(16 * KiB, 32 * KiB))).toBe(true);
    expect(reader.isSequential).toBe(true);
    expect(bucket.getRequests.every((request) => (request.length ?? 0) >= 64 * KiB)).toBe(true);
    reader.close();
  });
});

describe('PrefetchingReader: random readers and small objects', () => {
  it('random 4 KiB reads fetch at most twice what they read', async () => {
    const { bucket, cache, open } = readPathSetup();
    const size = 16 * MiB;
    const data = patterned(size, 7);
    bucket.set('obj', data);
    const reader = await open('obj');
    const random = lcg(42);
    const target = Buffer.alloc(4 * KiB);
    let readBytes = 0;
    for (let i = 0; i < 300; i += 1) {
      const position = Math.floor(random() * (size / (4 * KiB))) * 4 * KiB;
      const count = await reader.read(target, 4 * KiB, position);
      expect(target.subarray(0, count).equals(data.subarray(position, position + count))).toBe(true);
      readBytes += count;
    }
    const fetched = bucket.getRequests.reduce((sum, request) => sum + (request.length ?? 0), 0);
    expect(fetched).toBeLessThanOrEqual(2 * readBytes);
    expect(cache.stats().prefetchedBytes).toBe(0);
    reader.close();
  });

  it('fetches a small object whole with one GET, wherever the first read falls', async () => {
    const { bucket, open } = readPathSetup();
    const data = patterned(10 * KiB);
    bucket.set('small', data);
    const reader = await open('small');
    const target = Buffer.alloc(KiB);
    for (const position of [5 * KiB, 0, 9 * KiB, 2 * KiB + 3]) {
      const count = await reader.read(target, KiB, position);
      expect(target.subarray(0, count).equals(data.subarray(position, position + count))).toBe(true);
    }
    expect(await reader.read(target, KiB, data.length)).toBe(0);
    expect(bucket.getRequests).toEqual([{ key: 'small', offset: 0, length: 10 * KiB }]);
    reader.close();
  });
});

describe('a small object fetched from its open', () => {
  it('starts the GET at open, so the first read joins it; an open the kernel serves from its pages fetches nothing', async () => {
    const { bucket, fs } = makeFilesystem({ readPath: SMALL_READ_PATH });
    const data = patterned(10 * KiB);
    bucket.set('small', data);
    bucket.set('large', patterned(512 * KiB));
    const first = await fs.open('/small', 0);
    expect(first.keepCache).toBe(false);
    expect(bucket.getRequests).toEqual([{ key: 'small', offset: 0, length: 10 * KiB }]);
    const target = Buffer.alloc(10 * KiB);
    expect(await fs.read(first.fh, target, target.length, 0)).toBe(10 * KiB);
    expect(target.equals(data)).toBe(true);
    expect(bucket.getRequests.length).toBe(1);
    await fs.release(first.fh);
    // Opened again unchanged: the kernel keeps its pages, so nothing is fetched ahead.
    bucket.resetCalls();
    const again = await fs.open('/small', 0);
    expect(again.keepCache).toBe(true);
    // A larger object waits for its first read.
    const large = await fs.open('/large', 0);
    expect(bucket.getRequests).toEqual([]);
    for (const { fh } of [again, large]) await fs.release(fh);
    await fs.close();
  });
});

describe('PrefetchingReader: failures and changes', () => {
  it('forgets a failed fetch so the next read tries again', async () => {
    const { bucket, open } = readPathSetup();
    const data = patterned(512 * KiB);
    bucket.set('obj', data);
    const reader = await open('obj');
    bucket.failWith('get', () => new ServerError('down', { status: 503 }));
    const target = Buffer.alloc(KiB);
    expect(await errnoOf(reader.read(target, KiB, 0))).toBe(Errno.EIO);
    bucket.clearFailures();
    expect(await reader.read(target, KiB, 0)).toBe(KiB);
    expect(target.equals(data.subarray(0, KiB))).toBe(true);
    reader.close();
  });

  it('fails with EIO when a block of a changed object arrives, never mixing versions', async () => {
    const { bucket, open } = readPathSetup();
    const original = patterned(2 * MiB);
    bucket.set('obj', original);
    const reader = await open('obj');
    const target = Buffer.alloc(32 * KiB);
    await reader.read(target, target.length, 0);
    bucket.set('obj', Buffer.alloc(2 * MiB, 1));
    let failure: number | 'resolved' = 'resolved';
    for (let position = 32 * KiB; position < 2 * MiB && failure === 'resolved'; position += target.length) {
      failure = await errnoOf(reader.read(target, target.length, position));
      if (failure === 'resolved') expect(target.equals(original.subarray(position, position + target.length))).toBe(true);
    }
    expect(failure).toBe(Errno.EIO);
    reader.close();
  });
});
