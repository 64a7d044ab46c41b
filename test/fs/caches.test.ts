import { describe, expect, it } from 'vitest';
import { InodeTable, ROOT_INO } from '../../src/fs/inode-table.js';
import { MetadataCache } from '../../src/fs/metadata-cache.js';
import { SingleFlight } from '../../src/fs/single-flight.js';
import { WarnOnce } from '../../src/fs/warn-once.js';
import { capturingLogger, makeFilesystem, manualClock } from './fixture.js';

describe('InodeTable', () => {
  it('numbers the root 1, new paths upward, and maps both ways', () => {
    const table = new InodeTable();
    expect(table.inoForPath('/')).toBe(ROOT_INO);
    const a = table.inoForPath('/a');
    const b = table.inoForPath('/a/b');
    expect(new Set([ROOT_INO, a, b]).size).toBe(3);
    expect(table.inoForPath('/a')).toBe(a);
    expect(table.pathForIno(b)).toBe('/a/b');
    expect(table.childPath(a, 'c')).toBe('/a/c');
    expect(table.childPath(ROOT_INO, 'x')).toBe('/x');
    expect(table.childPath(12345, 'x')).toBeUndefined();
  });

  it('keeps a number the kernel holds until it forgets every lookup, then drops it and never reuses it', () => {
    const table = new InodeTable(0);
    const a = table.inoForPath('/d/a');
    table.addLookup(a);
    table.addLookups(a, 2);
    table.forget(a, 2);
    expect(table.pathForIno(a)).toBe('/d/a');
    table.forget(a, 1);
    expect(table.pathForIno(a)).toBeUndefined();
    // Its folder had no other holder: it went too. The path numbered again gets a new number.
    expect(table.knownIno('/d')).toBeUndefined();
    expect(table.inoForPath('/d/a')).toBeGreaterThan(a);
  });

  it('keeps a held number while a forget comes before the lookups of its batch are counted', () => {
    const table = new InodeTable(0);
    const a = table.inoForPath('/a');
    table.hold(a);
    table.forget(a, 1); // the kernel forgot an entry of a batch not settled yet
    expect(table.pathForIno(a)).toBe('/a');
    table.addLookups(a, 1);
    table.release(a);
    expect(table.pathForIno(a)).toBeUndefined();
  });

  it('bounds the numbers nobody holds, least recently used first, and never drops a parent of a held one', () => {
    const table = new InodeTable(3);
    const held = table.inoForPath('/deep/er/held');
    table.addLookup(held);
    const numbers = Array.from({ length: 10 }, (_, i) => table.inoForPath(`/f${i}`));
    expect(table.size).toBe(1 + 3 + 3);
    expect(numbers.slice(0, 7).map((ino) => table.pathForIno(ino))).toEqual(Array(7).fill(undefined));
    expect(table.pathForIno(numbers[9] as number)).toBe('/f9');
    expect(table.knownIno('/deep/er')).toBeDefined();
    expect(table.heldCount).toBe(4);
  });

  it('finds the numbered children a listing pass did not name', () => {
    const table = new InodeTable();
    for (const name of ['a', 'b', 'c']) table.inoForPath(`/d/${name}`);
    table.inoForPath('/d/b/inner');
    table.markChildListed('/d', 'a', 5);
    expect(table.childrenNotListed('/d', 5).sort()).toEqual(['/d/b', '/d/c']);
    expect(table.childrenNotListed('/nothing', 5)).toEqual([]);
  });
});

describe('bounded tables of a filesystem', () => {
  it('keeps at most its bound of idle numbers however many entries are listed, and numbers them again on sight', async () => {
    const { bucket, fs } = makeFilesystem({ idleInodeMaxEntries: 1_000, metadataCacheMaxEntries: 500, listCacheMaxEntries: 0 });
    for (let i = 0; i < 5_000; i += 1) bucket.set(`big/f${i}`, 'x');
    expect(await fs.readdir('/big')).toHaveLength(5_000);
    const stats = fs.metadataStats();
    expect(stats.inodes).toBeLessThanOrEqual(1_000 + 2);
    // Files and missing names within the bound; the one folder in the folders' own LRU.
    expect(stats.metadataEntries).toBeLessThanOrEqual(500 + 1);
    expect(stats.listedEntries).toBe(0);
    expect((await fs.getattr('/big/f3')).size).toBe(1);
  });

  it('lets expired names, listings and idle numbers go once a TTL has passed', async () => {
    const { bucket, clock, fs } = makeFilesystem({ metadataTtlMs: 10_000 });
    for (let i = 0; i < 300; i += 1) bucket.set(`d/f${i}`, 'x');
    await fs.readdir('/d');
    expect(fs.metadataStats()).toMatchObject({ listedEntries: 300 });
    expect(fs.metadataStats().inodes).toBeGreaterThan(300);
    clock.advance(10_001);
    fs.sweep();
    expect(fs.metadataStats()).toEqual({ inodes: 1, heldInodes: 1, metadataEntries: 0, listedEntries: 0 });
  });
});

describe('MetadataCache', () => {
  it('keeps hits and misses for their own TTLs', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 100, negativeMetadataTtlMs: 10, maxEntries: 10, now: clock.now });
    cache.setFound('/f', { kind: 'dir' });
    cache.setNotFound('/m');
    expect(cache.get('/f')).toEqual({ hit: true, info: { kind: 'dir' } });
    expect(cache.get('/m')).toEqual({ hit: true, info: undefined });
    clock.advance(10);
    expect(cache.get('/m')).toEqual({ hit: false });
    expect(cache.get('/f').hit).toBe(true);
    clock.advance(90);
    expect(cache.get('/f')).toEqual({ hit: false });
  });

  it('is bounded by entries, dropping the least recently used', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 1000, negativeMetadataTtlMs: 1000, maxEntries: 3, now: clock.now });
    for (const path of ['/1', '/2', '/3']) cache.setFound(path, { kind: 'dir' });
    cache.get('/1');
    cache.setFound('/4', { kind: 'dir' });
    expect(cache.size).toBe(3);
    expect(cache.get('/2').hit).toBe(false);
    expect(cache.get('/1').hit).toBe(true);
  });

  it('ignores writes started before an invalidation, and TTL 0 disables caching', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 1000, negativeMetadataTtlMs: 0, maxEntries: 10, now: clock.now });
    const before = cache.generation;
    cache.invalidate('/x');
    cache.setFound('/x', { kind: 'dir' }, before);
    expect(cache.get('/x').hit).toBe(false);
    cache.setNotFound('/y');
    expect(cache.get('/y').hit).toBe(false);
  });

  it('says what file a path holds and until when, without making it recently used', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 1000, negativeMetadataTtlMs: 1000, maxEntries: 3, now: clock.now });
    const file = { kind: 'file' as const, size: 7, mtimeMs: 5, version: 'v1' };
    cache.setFound('/f', file);
    const expiresAtMs = clock.now() + 1000;
    cache.setFound('/d', { kind: 'dir' });
    cache.setNotFound('/m');
    clock.advance(400);
    expect(cache.peekFile('/f')).toEqual({ info: file, expiresAtMs });
    // Neither a folder nor a name known missing is a file.
    expect(cache.peekFile('/d')).toBeUndefined();
    expect(cache.peekFile('/m')).toBeUndefined();
    // Peeking left /f the least recently used (before /m): of the next two entries, the second pushes it out.
    cache.setFound('/g', file);
    cache.setFound('/h', file);
    expect(cache.peekFile('/f')).toBeUndefined();
    clock.advance(600);
    expect(cache.peekFile('/g')).toEqual({ info: file, expiresAtMs: expiresAtMs + 400 });
    clock.advance(400);
    expect(cache.peekFile('/g')).toBeUndefined();
  });
});

describe('SingleFlight', () => {
  it('shares one run per key while it is in flight, then runs again', async () => {
    const flights = new SingleFlight<number>();
    let runs = 0;
    const work = async () => {
      runs += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return runs;
    };
    expect(await Promise.all([flights.run('k', work), flights.run('k', work), flights.run('other', work)])).toEqual([2, 2, 2]);
    expect(flights.size).toBe(0);
    await flights.run('k', work);
    expect(runs).toBe(3);
  });
});

describe('WarnOnce', () => {
  it('warns once per subject and at most N per window', () => {
    const { logger, records } = capturingLogger();
    const clock = manualClock();
    const warnings = new WarnOnce(logger, clock.now, 100, 2, 1000);
    warnings.warn('a', { object: 'a' }, 'bad');
    warnings.warn('a', { object: 'a' }, 'bad');
    warnings.warn('b', { object: 'b' }, 'bad');
    warnings.warn('c', { object: 'c' }, 'bad');
    expect(records().map((line) => line.object)).toEqual(['a', 'b']);
    clock.advance(1000);
    warnings.warn('d', { object: 'd' }, 'bad');
    expect(records().at(-2)).toMatchObject({ suppressed: 1 });
    expect(records().at(-1)).toMatchObject({ object: 'd' });
  });
});

describe('lookup racing an unlink', () => {
  it('does not cache what a lookup saw before the object was deleted', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: true });
    bucket.set('f', 'x');
    bucket.set('g', 'y');
    await fs.getattr('/g');
    const releaseHead = bucket.pause('head');
    const racing = fs.getattr('/f');
    await fs.unlink('/g');
    releaseHead();
    expect((await racing).kind).toBe('file');
    bucket.resetCalls();
    await fs.getattr('/f');
    expect(bucket.calls.head).toBe(1);
  });
});
