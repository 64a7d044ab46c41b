import { describe, expect, it } from 'vitest';
import { MetadataCache } from '../../src/fs/metadata-cache.js';
import { DIR_NODE, type NodeInfo } from '../../src/fs/node-info.js';
import { heapBytesPerEntry } from '../helpers/heap.js';
import { manualClock } from './fixture.js';

/** Paths that share bytes, differ only past Latin-1 or in case, are long, or nest in one another. */
const PATHS = ['/a', '/A', '/a/b', '/ü', '/версия', '/名前/😀', `/${'x'.repeat(300)}`, `/${'y'.repeat(0x10000)}`, '/a b', '/.h'];
const VERSIONS = [undefined, '', '1', 'ü', 'версия', 'v'.repeat(0x10000)];

describe('MetadataCache against a model', () => {
  it('hands back what the last set of each path said, evicting least recently used first, through random sets, gets and invalidations', () => {
    let seed = 7;
    const next = (): number => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 4_294_967_296;
    };
    const clock = manualClock();
    const max = 200;
    const cache = new MetadataCache({ metadataTtlMs: 1_000_000, negativeMetadataTtlMs: 1_000_000, maxEntries: max, now: clock.now });
    /** Files and misses, least recently used first (folders have an LRU of their own). */
    const model = new Map<string, NodeInfo | undefined>();
    for (let step = 0; step < 8_000; step += 1) {
      const path = `${PATHS[Math.floor(next() * PATHS.length)] as string}${Math.floor(next() * 60)}`;
      const roll = next();
      if (roll < 0.4) {
        const info: NodeInfo = { kind: 'file', size: step, mtimeMs: step * 2, version: VERSIONS[step % VERSIONS.length] };
        cache.setFound(path, info);
        model.delete(path);
        model.set(path, info);
      } else if (roll < 0.5) {
        cache.setNotFound(path);
        model.delete(path);
        model.set(path, undefined);
      } else if (roll < 0.6) {
        cache.invalidate(path);
        model.delete(path);
      } else {
        const found = cache.get(path);
        expect(found).toEqual(model.has(path) ? { hit: true, info: model.get(path) } : { hit: false });
        if (model.has(path)) {
          const info = model.get(path);
          model.delete(path);
          model.set(path, info);
        }
      }
      while (model.size > max) model.delete(model.keys().next().value as string);
      expect(cache.size).toBe(model.size);
    }
    for (const [path, info] of model) expect(cache.get(path)).toEqual({ hit: true, info });
  });

  it('keeps no JS object or string per entry', () => {
    const entries = 100_000;
    const clock = manualClock();
    const { bytesPerEntry, kept } = heapBytesPerEntry(entries, () => {
      const cache = new MetadataCache({ metadataTtlMs: 1000, negativeMetadataTtlMs: 1000, maxEntries: entries, now: clock.now });
      for (let i = 0; i < entries; i += 1) cache.setFound(`/t/d-${i % 100}/f-${String(i).padStart(6, '0')}.bin`, { kind: 'file', size: i, mtimeMs: i, version: `${i}`.padStart(16, '0') });
      return cache;
    });
    expect(kept.size).toBe(entries);
    expect(bytesPerEntry).toBeLessThan(8);
  });

  it('keeps folders apart from files, each bounded', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 1000, negativeMetadataTtlMs: 1000, maxEntries: 10, now: clock.now });
    for (const path of PATHS) cache.setFound(path, DIR_NODE);
    for (let i = 0; i < 50; i += 1) cache.setFound(`/f${i}`, { kind: 'file', size: i, mtimeMs: 0, version: undefined });
    expect(cache.size).toBe(20);
    for (const path of PATHS) expect(cache.get(path)).toEqual({ hit: true, info: DIR_NODE });
  });
});
