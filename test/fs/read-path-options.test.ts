import { describe, expect, it } from 'vitest';
import { ByteSizeError, parseByteSize } from '../../src/fs/byte-size.js';
import { memoryBoundBytes } from '../../src/fs/memory-bound.js';
import { DEFAULT_READ_PATH, ReadPathOptionsError, defaultCacheSizeBytes, resolveReadPathOptions } from '../../src/fs/read-path-options.js';
import { addReadStats, EMPTY_READ_STATS } from '../../src/fs/read-stats.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('parseByteSize', () => {
  it.each([
    ['1048576', 1048576],
    ['0', 0],
    ['64k', 64 * KiB],
    ['64KiB', 64 * KiB],
    ['8M', 8 * MiB],
    ['8 mb', 8 * MiB],
    ['512MiB', 512 * MiB],
    ['1.5g', 1.5 * GiB],
    ['2GiB', 2 * GiB],
    ['100b', 100],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['', 'M', '-1', '8 parsecs', '1e3', '12TiB'])('refuses %j', (text) => {
    expect(() => parseByteSize(text)).toThrow(ByteSizeError);
  });
});

describe('resolveReadPathOptions', () => {
  it('keeps the documented defaults', () => {
    expect(resolveReadPathOptions()).toEqual(DEFAULT_READ_PATH);
    expect(DEFAULT_READ_PATH).toMatchObject({ blockSizeBytes: 1 * MiB, partSizeBytes: 8 * MiB, initialWindowBytes: 1 * MiB, maxWindowBytes: 64 * MiB, smallObjectThresholdBytes: 1 * MiB });
  });

  it.each([
    ['a part is whole blocks', { blockSizeBytes: 1 * MiB, partSizeBytes: 5 * MiB + 3 }, { partSizeBytes: 5 * MiB }],
    ['a part is at least a block', { blockSizeBytes: 2 * MiB, partSizeBytes: 1 * MiB }, { partSizeBytes: 2 * MiB }],
    ['a small object fits one part', { partSizeBytes: 2 * MiB, smallObjectThresholdBytes: 16 * MiB }, { smallObjectThresholdBytes: 2 * MiB }],
    ['the window is at most half the cache', { cacheSizeBytes: 64 * MiB, maxWindowBytes: 256 * MiB }, { maxWindowBytes: 32 * MiB }],
    ['the first window is at least a block', { initialWindowBytes: 4 * KiB }, { initialWindowBytes: 1 * MiB }],
  ])('%s', (_, overrides, expected) => {
    expect(resolveReadPathOptions(overrides)).toMatchObject(expected);
  });

  it('refuses a cache that cannot hold two parts, and nonsense numbers', () => {
    expect(() => resolveReadPathOptions({ cacheSizeBytes: 8 * MiB, partSizeBytes: 8 * MiB })).toThrow(ReadPathOptionsError);
    expect(() => resolveReadPathOptions({ partSizeBytes: -1 })).toThrow(ReadPathOptionsError);
    expect(() => resolveReadPathOptions({ blockSizeBytes: 1.5 })).toThrow(ReadPathOptionsError);
  });

  it('sizes the default cache so that the whole mount takes a quarter of memory, at most 512 MiB; the cache at least 64 MiB', () => {
    expect(memoryBoundBytes(defaultCacheSizeBytes(24 * GiB))).toBe(512 * MiB);
    expect(memoryBoundBytes(defaultCacheSizeBytes(1 * GiB))).toBe(256 * MiB);
    expect(defaultCacheSizeBytes(128 * MiB)).toBe(64 * MiB);
  });
});

describe('read stats', () => {
  it('add up across read paths', () => {
    const one = { ...EMPTY_READ_STATS, cacheHits: 2, bytesFetched: 10, cachedBytes: 5 };
    expect(addReadStats(one, one)).toEqual({ ...EMPTY_READ_STATS, cacheHits: 4, bytesFetched: 20, cachedBytes: 10 });
  });
});
