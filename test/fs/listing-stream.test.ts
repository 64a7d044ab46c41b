import { describe, expect, it } from 'vitest';
import { DIR_NODE } from '../../src/fs/node-info.js';
import { ListingStream } from '../../src/fs/listing-stream.js';
import { WarnOnce } from '../../src/fs/warn-once.js';
import type { DirStream } from '../../src/fs/types.js';
import { capturingLogger, makeFilesystem } from './fixture.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';

const name = (i: number): string => `f${String(i).padStart(5, '0')}`;

function fill(bucket: MemoryBucket, folder: string, count: number): void {
  for (let i = 0; i < count; i += 1) bucket.set(`${folder}/${name(i)}`, String(i));
}

/** Every name of a stream, read in batches of `batch`. */
async function readAllNames(stream: DirStream, batch = 100): Promise<string[]> {
  const names: string[] = [];
  for (;;) {
    const entries = await stream.read(names.length, batch);
    if (entries.length === 0) return names;
    names.push(...entries.map((entry) => entry.name));
  }
}

function streamOver(bucket: MemoryBucket, dirPrefix: string, pageSize: number): ListingStream {
  return new ListingStream({ listPage: (request) => bucket.listPage(request), dirPrefix, warnings: new WarnOnce(capturingLogger().logger, Date.now), pageSize, collectLimit: 1_000_000 });
}

describe('streaming directory reads', () => {
  it('opens a folder without listing it, and hands out the first entries before the last page is fetched', async () => {
    const { bucket, fs } = makeFilesystem({ listPageSize: 100 });
    fill(bucket, 'big', 1_000);
    await fs.getattr('/big');
    bucket.resetCalls();
    const release = bucket.pause('listPage');
    const stream = await fs.openDir('/big');
    release();
    const first = await stream.read(0, 10);
    expect(first.map((entry) => entry.name)).toEqual(Array.from({ length: 10 }, (_, i) => name(i)));
    // The page asked for, and at most one page ahead of the reader.
    expect(bucket.calls.listPage).toBeLessThanOrEqual(2);
    stream.close();
  });

  it('keeps a bounded window however large the folder, and still finds every position again', async () => {
    const bucket = new MemoryBucket();
    fill(bucket, 'big', 5_000);
    const stream = streamOver(bucket, 'big/', 100);
    const names: string[] = [];
    let largestWindow = 0;
    for (;;) {
      const children = await stream.read(names.length, 37);
      largestWindow = Math.max(largestWindow, stream.bufferedCount);
      if (children.length === 0) break;
      names.push(...children.map((child) => child.name));
    }
    expect(names).toEqual(Array.from({ length: 5_000 }, (_, i) => name(i)));
    expect(largestWindow).toBeLessThanOrEqual(3 * 100 + 37);
    // seekdir back, far and near, and rewinddir: the same names at the same positions.
    for (const position of [0, 1, 99, 100, 2_345, 4_998, 4_999]) {
      expect((await stream.read(position, 2)).map((child) => child.name)).toEqual(names.slice(position, position + 2));
    }
    expect(await stream.read(5_000, 10)).toEqual([]);
    stream.close();
  });

  it('never repeats a name, nor skips one that exists throughout, while names appear and vanish between pages', async () => {
    const bucket = new MemoryBucket();
    fill(bucket, 'd', 1_000);
    const stream = streamOver(bucket, 'd/', 100);
    const seen: string[] = [];
    const stable = new Set(Array.from({ length: 1_000 }, (_, i) => name(i)).filter((_, i) => i % 10 !== 3));
    for (let round = 0; ; round += 1) {
      const children = await stream.read(seen.length, 50);
      if (children.length === 0) break;
      seen.push(...children.map((child) => child.name));
      // Between reads: names vanish (ahead and behind), new ones appear (ahead and behind).
      bucket.delete(`d/${name(round * 10 + 3)}`).catch(() => {});
      bucket.set(`d/${name(round * 10 + 3)}-late`, 'x');
      bucket.set(`d/a-early-${round}`, 'x');
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const stableName of stable) expect(seen).toContain(stableName);
    expect(seen.some((seenName) => seenName.startsWith('a-early'))).toBe(false);
    stream.close();
  });

  it('shows a name that is a file and a folder once, as the folder, even when pages split them', async () => {
    const bucket = new MemoryBucket();
    bucket.set('d/a', 'file');
    for (let i = 0; i < 7; i += 1) bucket.set(`d/a-${i}`, 'x');
    bucket.set('d/a.txt', 'x');
    bucket.set('d/a/inner', 'x');
    bucket.set('d/b', 'x');
    for (const pageSize of [1, 2, 3, 100]) {
      const stream = streamOver(bucket, 'd/', pageSize);
      const children = [];
      for (;;) {
        const batch = await stream.read(children.length, 4);
        if (batch.length === 0) break;
        children.push(...batch);
      }
      expect(children.filter((child) => child.name === 'a')).toEqual([{ name: 'a', info: DIR_NODE }]);
      expect(children.map((child) => child.name).sort()).toEqual(['a', 'a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6', 'a.txt', 'b']);
      stream.close();
    }
  });

  it('serves two readers of one folder at once, each from its own position', async () => {
    const { bucket, fs } = makeFilesystem({ listPageSize: 100 });
    fill(bucket, 'd', 700);
    const [one, two] = await Promise.all([fs.openDir('/d'), fs.openDir('/d')]);
    const [a, b] = await Promise.all([readAllNames(one, 33), readAllNames(two, 71)]);
    expect(a).toEqual(b);
    expect(a).toHaveLength(700);
  });
});

describe('kept listings', () => {
  it('answers a second listing within the TTL without a request, and lists again after it', async () => {
    const { bucket, clock, fs } = makeFilesystem({ metadataTtlMs: 10_000 });
    fill(bucket, 'd', 50);
    expect(await fs.readdir('/d')).toHaveLength(50);
    bucket.resetCalls();
    expect(await fs.readdir('/d')).toHaveLength(50);
    expect(bucket.calls.listPage).toBe(0);
    clock.advance(10_001);
    bucket.set('d/new', 'x');
    expect(await fs.readdir('/d')).toHaveLength(51);
    expect(bucket.calls.listPage).toBeGreaterThan(0);
  });

  it('drops the listings a delete through the mount touches', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: true });
    bucket.set('d/sub/only', 'x');
    bucket.set('d/other', 'x');
    expect((await fs.readdir('/d')).map((entry) => entry.name)).toEqual(['other', 'sub']);
    expect((await fs.readdir('/d/sub')).map((entry) => entry.name)).toEqual(['only']);
    await fs.unlink('/d/sub/only');
    expect(await fs.readdir('/d/sub').catch((error: { errno?: number }) => error.errno)).toBeDefined();
    expect((await fs.readdir('/d')).map((entry) => entry.name)).toEqual(['other']);
  });

  it('tells the kernel it may keep a listing only after it read it whole, and not after a change', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: true });
    fill(bucket, 'd', 20);
    const first = await fs.openDir('/d');
    expect(first.kernelMayKeep).toBe(false);
    await first.read(0, 5);
    first.close();
    expect((await fs.openDir('/d')).kernelMayKeep).toBe(false);
    const whole = await fs.openDir('/d');
    await readAllNames(whole, 7);
    whole.close();
    expect((await fs.openDir('/d')).kernelMayKeep).toBe(true);
    await fs.unlink(`/d/${name(3)}`);
    expect((await fs.openDir('/d')).kernelMayKeep).toBe(false);
  });

  it('keeps at most its bound of children, and never a folder larger than a quarter of it', async () => {
    const { bucket, fs } = makeFilesystem({ listCacheMaxEntries: 100, treePrefetchMaxEntries: 0 });
    fill(bucket, 'small1', 20);
    fill(bucket, 'small2', 20);
    fill(bucket, 'large', 30);
    for (const folder of ['/small1', '/small2', '/large']) await fs.readdir(folder);
    bucket.resetCalls();
    await fs.readdir('/small1');
    await fs.readdir('/small2');
    expect(bucket.calls.listPage).toBe(0);
    await fs.readdir('/large');
    expect(bucket.calls.listPage).toBe(1);
  });
});
