import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { detachedLogPath } from '../../src/cli/daemonize.js';
import { parseRunState, runStatePath } from '../../src/cli/metrics-run-state.js';
import { TEMP_PREFIX } from '../../src/fs/disk-cache/block-file.js';
import { MOUNT_ENGINES, type MountEngine } from '../../src/fuse/mount.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { blockFilesUnder as blockFiles } from '../helpers/cache-files.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * The disk cache through the kernel: the built CLI (run `npx tsc` first) mounts a bucket of a local server with
 * --cache-dir; requests are counted on the mount's /metrics. The server runs in this process: only async calls
 * and child processes touch the mount.
 */
const MiB = 1024 * 1024;
const files: Record<string, Buffer> = { 'b/big.bin': randomBytes(5 * MiB + 333), 'b/small.bin': randomBytes(100 * 1024) };
for (let i = 0; i < 16; i += 1) files[`b/set/f${String(i).padStart(2, '0')}`] = randomBytes(MiB);

function sample(text: string, name: string): number {
  const found = text.split('\n').find((line) => line.startsWith(`${name} `));
  return found === undefined ? Number.NaN : Number(found.split(' ').pop());
}

const engines = MOUNT_ENGINES;

describe('the disk cache of a real mount', () => {
  let root: { path: string; remove: () => Promise<void> };
  let dataDir = '';
  let cacheHome = '';
  let server: RunningServer | undefined;
  const tmpfsMounts: string[] = [];
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_CACHE_HOME: cacheHome });

  beforeAll(async () => {
    root = await withTempDir('disk-cache-mount');
    dataDir = join(root.path, 'data');
    cacheHome = join(root.path, 'home-cache');
    await mkdir(cacheHome);
    await writeObjects(dataDir, files);
    server = await startServer({ dataDir, host: '127.0.0.1', port: 0 });
  });

  afterEach(async () => {
    cleanupMounts();
    for (const path of tmpfsMounts.splice(0)) await run('umount', ['-l', path]);
  });

  afterAll(async () => {
    cleanupMounts();
    await server?.close();
    await root?.remove();
  });

  async function mount(cacheDir: string, extra: string[] = [], engine: MountEngine = 'native') {
    const mountpoint = makeMountpoint(`disk-cache-${engine}`);
    const result = await runCli(
      ['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--cache-dir', cacheDir, '--metrics-port', '0', ...extra],
      { env: env() },
    );
    expect(result.code, result.stderr).toBe(0);
    const pid = daemonPidFrom(result.stderr) ?? 0;
    const state = parseRunState(await readFile(runStatePath(mountpoint, env()), 'utf8'));
    const metricsUrl = state?.metricsUrl ?? '';
    const metrics = async (): Promise<string> => (await fetch(`${metricsUrl}/metrics`)).text();
    const unmount = async (): Promise<void> => {
      const done = await runCli(['unmount', mountpoint], { env: env() });
      expect(done.code, done.stderr).toBe(0);
      // Its writes behind and its share of the cache size land before it exits.
      await waitUntil(() => !processAlive(pid), 20_000, `mount process ${pid} to exit`);
    };
    return { mountpoint, metrics, unmount, log: () => readFile(detachedLogPath(mountpoint, env()), 'utf8').catch(() => '') };
  }

  async function cmpAll(mountpoint: string, names: readonly string[]): Promise<void> {
    for (const name of names) {
      const result = await run('cmp', [join(mountpoint, name), join(dataDir, 'b', name)]);
      expect(result.code, `${name}: ${result.stdout}${result.stderr}`).toBe(0);
    }
  }

  for (const engine of engines) {
    it(`serves a read after a remount from the cache dir, with no GET (${engine})`, async () => {
      const cacheDir = join(root.path, `remount-${engine}`);
      const first = await mount(cacheDir, [], engine);
      await cmpAll(first.mountpoint, ['big.bin', 'small.bin']);
      const cold = await first.metrics();
      expect(sample(cold, 'bucketfs_store_fetched_bytes_total')).toBe(files['b/big.bin']!.length + files['b/small.bin']!.length);
      await first.unmount();

      const second = await mount(cacheDir, [], engine);
      await cmpAll(second.mountpoint, ['big.bin', 'small.bin']);
      const warm = await second.metrics();
      expect(sample(warm, 'bucketfs_store_fetched_bytes_total')).toBe(0);
      expect(sample(warm, 'bucketfs_disk_cache_hits_total')).toBeGreaterThanOrEqual(7);
      expect(sample(warm, 'bucketfs_disk_cache_misses_total')).toBe(0);
      expect(sample(warm, 'bucketfs_disk_cache_served_bytes_total')).toBe(files['b/big.bin']!.length + files['b/small.bin']!.length);
      expect(sample(warm, 'bucketfs_disk_cache_bytes')).toBeGreaterThanOrEqual(files['b/big.bin']!.length);
      expect(sample(warm, 'bucketfs_disk_cache_enabled')).toBe(1);
      await second.unmount();
    });
  }

  it('drops a flipped, a truncated and a half-written block, fetches them again and reads right', async () => {
    const cacheDir = join(root.path, 'damaged');
    const first = await mount(cacheDir);
    await cmpAll(first.mountpoint, ['big.bin']);
    await first.unmount();
    const blocks = (await blockFiles(cacheDir)).sort((a, b) => a.path.localeCompare(b.path));
    expect(blocks).toHaveLength(6);
    const [flipped, truncated, halfWritten] = blocks;
    const bytes = await readFile(flipped!.path);
    bytes[bytes.length - 1000] ^= 0x01;
    await writeFile(flipped!.path, bytes);
    await truncate(truncated!.path, truncated!.bytes - 4096);
    // What a writer killed mid-block leaves: its temporary file, and no block by the real name.
    const partial = await readFile(halfWritten!.path);
    await writeFile(join(halfWritten!.path, '..', `${TEMP_PREFIX}12345-killed`), partial.subarray(0, partial.length / 2));
    await rm(halfWritten!.path);

    const second = await mount(cacheDir);
    await cmpAll(second.mountpoint, ['big.bin']);
    const metrics = await second.metrics();
    expect(sample(metrics, 'bucketfs_disk_cache_checksum_failures_total')).toBe(2);
    expect(sample(metrics, 'bucketfs_disk_cache_misses_total')).toBe(3);
    expect(sample(metrics, 'bucketfs_store_fetched_bytes_total')).toBe(3 * MiB);
    expect(await second.log()).toContain('dropped a damaged block');
    await second.unmount();
    // Written again: all six blocks whole on disk.
    const third = await mount(cacheDir);
    await cmpAll(third.mountpoint, ['big.bin']);
    expect(sample(await third.metrics(), 'bucketfs_store_fetched_bytes_total')).toBe(0);
    await third.unmount();
  });

  it('never serves an object changed on the server (a new version is a new key)', async () => {
    const cacheDir = join(root.path, 'changed');
    const first = await mount(cacheDir);
    await cmpAll(first.mountpoint, ['small.bin']);
    await first.unmount();
    const original = files['b/small.bin']!;
    await writeObjects(dataDir, { 'b/small.bin': randomBytes(original.length) });
    try {
      const second = await mount(cacheDir);
      await cmpAll(second.mountpoint, ['small.bin']);
      const metrics = await second.metrics();
      expect(sample(metrics, 'bucketfs_store_fetched_bytes_total')).toBe(original.length);
      expect(sample(metrics, 'bucketfs_disk_cache_hits_total')).toBe(0);
      await second.unmount();
    } finally {
      await writeObjects(dataDir, { 'b/small.bin': original });
    }
  });

  it('keeps two mounts sharing one cache dir at once under the limit, each reading right', async () => {
    const cacheDir = join(root.path, 'shared');
    const limitBytes = 6 * MiB;
    const names = Object.keys(files).filter((name) => name.startsWith('b/set/')).map((name) => name.slice(2));
    const a = await mount(cacheDir, ['--max-cache-size', String(limitBytes)]);
    const b = await mount(cacheDir, ['--max-cache-size', String(limitBytes)]);
    await Promise.all([cmpAll(a.mountpoint, names), cmpAll(b.mountpoint, [...names].reverse())]);
    const evicted = sample(await a.metrics(), 'bucketfs_disk_cache_evictions_total') + sample(await b.metrics(), 'bucketfs_disk_cache_evictions_total');
    await Promise.all([a.unmount(), b.unmount()]);
    expect(evicted).toBeGreaterThan(0);
    const total = (await blockFiles(cacheDir)).reduce((sum, file) => sum + file.bytes, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(limitBytes);
  });

  it('refuses a cache dir it cannot write, in one line, before mounting', async () => {
    const readOnly = join(root.path, 'read-only');
    await mkdir(readOnly);
    expect((await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly])).code).toBe(0);
    tmpfsMounts.push(readOnly);
    const mountpoint = makeMountpoint('disk-cache-refused');
    for (const cacheDir of [readOnly, join(readOnly, 'cache')]) {
      const result = await runCli(['mount', 'ais://b', mountpoint, '--endpoint', server?.url ?? '', '--cache-dir', cacheDir], { env: env() });
      expect(result.code).not.toBe(0);
      expect(result.stderr.trim().split('\n')).toEqual([`bucketfs: --cache-dir ${cacheDir}: not writable (EROFS)`]);
      expect(isMounted(mountpoint)).toBe(false);
    }
  });

  it('turns caching off with one warning on a full disk, and reads still succeed', async () => {
    const tiny = join(root.path, 'tiny');
    await mkdir(tiny);
    expect((await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', tiny])).code).toBe(0);
    tmpfsMounts.push(tiny);
    const full = await mount(tiny, ['--max-cache-size', '1G']);
    const names = Object.keys(files).filter((name) => name.startsWith('b/set/')).map((name) => name.slice(2));
    await cmpAll(full.mountpoint, names);
    const metrics = await full.metrics();
    expect(sample(metrics, 'bucketfs_disk_cache_enabled')).toBe(0);
    const log = await full.log();
    expect(log.split('\n').filter((line) => line.includes('disk cache turned off'))).toHaveLength(1);
    expect(log).toContain('ENOSPC');
    await full.unmount();
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
