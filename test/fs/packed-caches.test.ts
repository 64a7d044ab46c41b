import { describe, expect, it } from 'vitest';
import { ListingCache } from '../../src/fs/listing-cache.js';
import { MetadataCache } from '../../src/fs/metadata-cache.js';
import { DIR_NODE } from '../../src/fs/node-info.js';
import type { ListedChild } from '../../src/fs/readdir.js';
import { manualClock } from './fixture.js';

const file = (i: number) => ({ kind: 'file' as const, size: i, mtimeMs: 1_700_000_000_000 + i, version: i % 2 === 0 ? `v${i}` : undefined });

describe('MetadataCache over many entries', () => {
  it('hands back what each path was set to through growth, eviction and reuse of freed room', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 1000, negativeMetadataTtlMs: 1000, maxEntries: 3000, now: clock.now });
    for (let i = 0; i < 5000; i += 1) cache.setFound(`/d/f${i}`, file(i));
    expect(cache.size).toBe(3000);
    expect(cache.get('/d/f1999').hit).toBe(false);
    expect(cache.get('/d/f2000')).toEqual({ hit: true, info: file(2000) });
    // Freed room is taken again by new entries of every kind, each keeping its own.
    for (let i = 2000; i < 2500; i += 1) cache.invalidate(`/d/f${i}`);
    for (let i = 0; i < 500; i += 1) {
      if (i % 3 === 0) cache.setFound(`/n${i}`, DIR_NODE);
      else if (i % 3 === 1) cache.setNotFound(`/n${i}`);
      else cache.setFound(`/n${i}`, file(i));
    }
    expect(cache.size).toBe(3000);
    for (let i = 0; i < 500; i += 1) expect(cache.get(`/n${i}`)).toEqual({ hit: true, info: i % 3 === 0 ? DIR_NODE : i % 3 === 1 ? undefined : file(i) });
    for (let i = 2500; i < 5000; i += 1) expect(cache.get(`/d/f${i}`)).toEqual({ hit: true, info: file(i) });
  });

  it('lets a path change kind and keeps the most recently used when full', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 1000, negativeMetadataTtlMs: 1000, maxEntries: 2, now: clock.now });
    cache.setFound('/a', file(1));
    cache.setFound('/a', DIR_NODE);
    cache.setNotFound('/b');
    cache.setFound('/c', file(3));
    cache.get('/b');
    cache.setFound('/e', file(5));
    expect(cache.get('/a')).toEqual({ hit: true, info: DIR_NODE });
    expect(cache.get('/c').hit).toBe(false);
    expect(cache.get('/b')).toEqual({ hit: true, info: undefined });
    expect(cache.get('/e')).toEqual({ hit: true, info: file(5) });
  });

  it('sweeps out only what expired, then takes new entries again', () => {
    const clock = manualClock();
    const cache = new MetadataCache({ metadataTtlMs: 100, negativeMetadataTtlMs: 10, maxEntries: 100, now: clock.now });
    cache.setFound('/keep', file(1));
    cache.setNotFound('/gone');
    cache.setFound('/dir', DIR_NODE);
    clock.advance(50);
    cache.sweep();
    expect(cache.size).toBe(2);
    clock.advance(50);
    cache.sweep();
    expect(cache.size).toBe(0);
    cache.setFound('/again', file(2));
    expect(cache.get('/again')).toEqual({ hit: true, info: file(2) });
    cache.clear();
    expect(cache.size).toBe(0);
    cache.setFound('/after-clear', DIR_NODE);
    expect(cache.get('/after-clear')).toEqual({ hit: true, info: DIR_NODE });
  });
});

describe('ListingCache of packed listings', () => {
  const listing = (count: number): ListedChild[] => Array.from({ length: count }, (_, i) => ({ name: `c${i}`, info: i % 4 === 0 ? DIR_NODE : file(i) }));

  it('hands back the children it kept, the same while someone holds them, equal when made again', async () => {
    const clock = manualClock();
    const cache = new ListingCache({ ttlMs: 1000, maxEntries: 100_000, now: clock.now });
    expect(cache.set('/d', listing(1000))).toBe(true);
    const first = cache.get('/d');
    expect(first).toEqual(listing(1000));
    expect(cache.get('/d')).toBe(first);
    expect(cache.size).toBe(1000);
    clock.advance(1000);
    expect(cache.get('/d')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
