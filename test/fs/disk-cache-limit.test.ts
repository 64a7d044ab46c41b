import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/cli/config-error.js';
import { resolveMountSettings } from '../../src/cli/mount-config.js';
import { CacheLimitError, DEFAULT_CACHE_LIMIT, limitBytes, parseCacheLimit } from '../../src/fs/disk-cache/cache-limit.js';

const GiB = 1024 ** 3;

describe('the disk cache limit', () => {
  it('reads a size or a share of the disk, and refuses anything else', () => {
    expect(parseCacheLimit('10G')).toEqual({ kind: 'bytes', bytes: 10 * GiB });
    expect(parseCacheLimit('1048576')).toEqual({ kind: 'bytes', bytes: 1048576 });
    expect(parseCacheLimit('20%')).toEqual({ kind: 'share', percent: 20 });
    for (const bad of ['0', '0%', '101%', 'lots', '-5G', '']) expect(() => parseCacheLimit(bad), bad).toThrow(CacheLimitError);
  });

  it('by default keeps 5% of the disk free, counting what the cache holds as its own', () => {
    const disk = { totalBytes: 100 * GiB, availableBytes: 30 * GiB };
    expect(limitBytes(DEFAULT_CACHE_LIMIT, disk, 10 * GiB)).toBe(35 * GiB);
    expect(limitBytes(DEFAULT_CACHE_LIMIT, { totalBytes: 100 * GiB, availableBytes: 1 * GiB }, 0)).toBe(0);
    expect(limitBytes({ kind: 'share', percent: 20 }, disk, 0)).toBe(20 * GiB);
    expect(limitBytes({ kind: 'bytes', bytes: 123 }, disk, 0)).toBe(123);
  });

  it('comes from --cache-dir and --max-cache-size (or the settings file), a limit alone being a mistake', () => {
    const settings = (flags: Record<string, string>, config: Record<string, unknown> = {}) => resolveMountSettings(['ais://b', '/mnt/x'], flags, config, {});
    expect(settings({}).diskCache).toBeUndefined();
    expect(settings({ cacheDir: '/var/cache/b' }).diskCache).toEqual({ dir: '/var/cache/b', limit: DEFAULT_CACHE_LIMIT });
    expect(settings({ cacheDir: '/c', maxCacheSize: '20%' }).diskCache).toEqual({ dir: '/c', limit: { kind: 'share', percent: 20 } });
    expect(settings({}, { cache_dir: '/c', max_cache_size: '2G' }).diskCache).toEqual({ dir: '/c', limit: { kind: 'bytes', bytes: 2 * GiB } });
    expect(() => settings({ maxCacheSize: '2G' })).toThrow(new ConfigError('--max-cache-size: needs --cache-dir'));
    expect(() => settings({ cacheDir: '/c', maxCacheSize: 'huge' })).toThrow(/^--max-cache-size: expected a size such as 10G or a share of the disk such as 20%, got "huge"$/);
  });
});
