import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BLOCKS_DIR_NAME, blockFilePath } from '../../src/fs/disk-cache/block-file.js';
import { DiskCache, cacheBucketName, cacheEndpointName } from '../../src/fs/disk-cache/disk-cache.js';
import { DEFAULT_READ_PATH } from '../../src/fs/read-path-options.js';
import { createAistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket } from '../../src/store/bucket-client.js';
import type { ObjectInfo } from '../../src/store/object-store.js';
import { BIN_PATH, CLI_PATH, run, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { PREFETCH_THREADPOOL_SIZE } from '../../src/cli/prefetch-threadpool.js';
import { blockFilesUnder } from '../helpers/cache-files.js';
import { useServer, withTempDir } from '../helpers/server.js';

/* `bucketfs prefetch` run as the built CLI (run `npx tsc` first) against a real local server. */
const MiB = 1024 * 1024;
const files: Record<string, Buffer> = { 'b/other/skip.bin': randomBytes(1000) };
for (let i = 0; i < 10; i += 1) files[`b/train/shard-${i}.bin`] = randomBytes(i === 0 ? 9 * MiB + 5 : 300 * 1024 + i);
const trainBytes = Object.entries(files)
  .filter(([name]) => name.startsWith('b/train/'))
  .reduce((sum, [, data]) => sum + data.length, 0);

/**
 * A prefetch started with `env`, seen while it waits on its first request (to an endpoint that accepts and never
 * answers), once its cache dir is open: its UV_THREADPOOL_SIZE after any re-execution, and its threads.
 */
async function prefetchThreads(cacheDir: string, env: NodeJS.ProcessEnv, script?: string): Promise<{ poolSize: string | undefined; threads: number }> {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const connected = new Promise<void>((resolve) => silent.once('connection', () => resolve()));
  const { port } = silent.address() as AddressInfo;
  const prefetch = startCli(['prefetch', 'ais://b/train', '--cache-dir', cacheDir, '--endpoint', `http://127.0.0.1:${port}`], env, script);
  try {
    await connected;
    const environ = await readFile(`/proc/${prefetch.child.pid}/environ`, 'utf8');
    const poolSize = environ
      .split('\0')
      .find((entry) => entry.startsWith('UV_THREADPOOL_SIZE='))
      ?.slice('UV_THREADPOOL_SIZE='.length);
    return { poolSize, threads: (await readdir(`/proc/${prefetch.child.pid}/task`)).length };
  } finally {
    prefetch.child.kill('SIGKILL');
    await waitForExit(prefetch.child);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
}

/** The cache's key of train/shard-0.bin as the server at `url` holds it now. */
function shardCacheKey(url: string, info: ObjectInfo) {
  return {
    endpoint: cacheEndpointName(url),
    bucket: cacheBucketName({ name: 'b' }),
    object: 'train/shard-0.bin',
    version: info.version ?? '',
    size: info.size,
    blockBytes: DEFAULT_READ_PATH.blockSizeBytes,
  };
}

async function blockCount(cacheDir: string): Promise<number> {
  return (await blockFilesUnder(cacheDir)).length;
}

describe('bucketfs prefetch', () => {
  const server = useServer(files);
  let root: { path: string; remove: () => Promise<void> };
  const tmpfsMounts: string[] = [];

  beforeAll(async () => {
    root = await withTempDir('prefetch');
  });
  afterEach(async () => {
    for (const path of tmpfsMounts.splice(0)) await run('umount', ['-l', path]);
  });
  afterAll(async () => {
    await root?.remove();
  });

  it('caches every block under the prefix, reports progress per tenth and a summary, and exits 0', async () => {
    const cacheDir = join(root.path, 'warm');
    const result = await runCli(['prefetch', 'ais://b/train', '--cache-dir', cacheDir, '--endpoint', server.url, '--parallel', '4']);
    expect(result.code, result.stderr).toBe(0);
    const progress = result.stderr.trim().split('\n');
    expect(progress.map((line) => /^prefetch: (\d+)% /.exec(line)?.[1])).toEqual(['10', '20', '30', '40', '50', '60', '70', '80', '90', '100']);
    expect(result.stdout).toMatch(new RegExp(`^prefetched 10 of 10 files, ${trainBytes} bytes \\(.* MiB\\) in [\\d.]+ s: .* MiB fetched at [\\d.]+ MiB/s\\n$`));
    // 10 blocks of the 9 MiB shard, one for each other shard; nothing of other/.
    expect(await blockCount(cacheDir)).toBe(10 + 9);

    // What a mount of the bucket reads is there, under the mount's own keys.
    const store = createAistoreClient();
    const cache = await DiskCache.open({ dir: cacheDir, blockBytes: DEFAULT_READ_PATH.blockSizeBytes, writeBehindMaxBytes: MiB, logger: pino({ level: 'silent' }) });
    try {
      const info = await bindBucket(store, { name: 'b' }, staticParams(server.url)).head('train/shard-0.bin');
      const object = cache.object(shardCacheKey(server.url, info));
      const last = Buffer.alloc(5);
      expect(await object.readBlock(9, last)).toBe(true);
      expect(last.equals(files['b/train/shard-0.bin']!.subarray(9 * MiB))).toBe(true);
    } finally {
      await cache.close();
      await store.close();
    }

    const again = await runCli(['prefetch', 'ais://b/train', '--cache-dir', cacheDir, '--endpoint', server.url]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^prefetched 10 of 10 files, .* 0\.0 MiB fetched at /);
  });

  it('loads its own command alone, not the mount, the server or an engine', async () => {
    // A module hook that writes the URL of every module the CLI loads to a file.
    const loads = join(root.path, 'loads.txt');
    const hooks = join(root.path, 'record-loads-hooks.mjs');
    const preload = join(root.path, 'record-loads.mjs');
    await writeFile(hooks, `import { appendFileSync } from 'node:fs';\nlet log;\nexport function initialize(data) { log = data.log; }\nexport async function load(url, context, next) { appendFileSync(log, url + '\\n'); return next(url, context); }\n`);
    await writeFile(preload, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)}, { data: { log: ${JSON.stringify(loads)} } });\n`);
    const result = await run(process.execPath, ['--import', preload, CLI_PATH, 'prefetch', 'ais://b/train', '--cache-dir', join(root.path, 'alone'), '--endpoint', server.url]);
    expect(result.code, result.stderr).toBe(0);
    const urls = (await readFile(loads, 'utf8')).split('\n');
    const loaded = urls.filter((url) => url.includes('/dist/cli/'));
    expect(loaded.some((url) => url.endsWith('/prefetch-command.js'))).toBe(true);
    expect(loaded.filter((url) => /\/(mount|serve|demo)-command\.js$/.test(url))).toEqual([]);
    // Nor either engine: only the module naming them, for the config's check of --engine.
    expect(urls.filter((url) => url.includes('/dist/fuse/')).map((url) => url.slice(url.lastIndexOf('/') + 1))).toEqual(['engines.js']);
  });

  it('fetches again only the blocks gone or damaged since the last run', async () => {
    const cacheDir = join(root.path, 'mend');
    const first = await runCli(['prefetch', 'ais://b/train', '--cache-dir', cacheDir, '--endpoint', server.url]);
    expect(first.code, first.stderr).toBe(0);
    const store = createAistoreClient();
    const info = await bindBucket(store, { name: 'b' }, staticParams(server.url)).head('train/shard-0.bin');
    await store.close();
    const key = (blockIndex: number) => ({ ...shardCacheKey(server.url, info), blockIndex });
    await rm(join(cacheDir, BLOCKS_DIR_NAME, blockFilePath(key(3))));
    await truncate(join(cacheDir, BLOCKS_DIR_NAME, blockFilePath(key(5))), 4096);

    const again = await runCli(['prefetch', 'ais://b/train', '--cache-dir', cacheDir, '--endpoint', server.url]);
    expect(again.code, again.stderr).toBe(0);
    // Blocks 3 and 5 of the 9 MiB shard, not the 8 MiB part they are in.
    expect(again.stdout).toMatch(/^prefetched 10 of 10 files, .* 2\.0 MiB fetched at /);
    expect(await blockCount(cacheDir)).toBe(10 + 9);
  });

  it('fills a cache dir on tmpfs, every block whole and checked', async () => {
    const onTmpfs = join(root.path, 'on-tmpfs');
    await mkdir(onTmpfs, { recursive: true });
    expect((await run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', onTmpfs])).code).toBe(0);
    tmpfsMounts.push(onTmpfs);
    const result = await runCli(['prefetch', 'ais://b/train', '--cache-dir', onTmpfs, '--endpoint', server.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(await blockCount(onTmpfs)).toBe(10 + 9);
    const store = createAistoreClient();
    const cache = await DiskCache.open({ dir: onTmpfs, blockBytes: DEFAULT_READ_PATH.blockSizeBytes, writeBehindMaxBytes: MiB, logger: pino({ level: 'silent' }) });
    try {
      const info = await bindBucket(store, { name: 'b' }, staticParams(server.url)).head('train/shard-0.bin');
      const object = cache.object(shardCacheKey(server.url, info));
      const whole = Buffer.alloc(MiB);
      for (let index = 0; index < 9; index += 1) {
        expect(await object.readBlock(index, whole)).toBe(true);
        expect(whole.equals(files['b/train/shard-0.bin']!.subarray(index * MiB, (index + 1) * MiB))).toBe(true);
      }
      expect(cache.stats().checksumFailures).toBe(0);
    } finally {
      await cache.close();
      await store.close();
    }
  });

  it('exits 1 saying what was not cached when the cache disk fills', async () => {
    const tiny = join(root.path, 'tiny');
    await mkdir(tiny);
    expect((await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', tiny])).code).toBe(0);
    tmpfsMounts.push(tiny);
    const result = await runCli(['prefetch', 'ais://b/train', '--cache-dir', tiny, '--endpoint', server.url, '--max-cache-size', '1G']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/disk cache turned off \(ENOSPC\)/);
    expect(result.stderr).toMatch(/^bucketfs: \d+ of 10 files not cached \(train\/.*\)$/m);
  });

  it('runs with a thread pool for its block writes in flight, or the size the user set', async () => {
    const { UV_THREADPOOL_SIZE: _unset, ...env } = process.env;
    const own = await prefetchThreads(join(root.path, 'pool'), env);
    expect(own.poolSize).toBe(String(PREFETCH_THREADPOOL_SIZE));
    // The pool has started (the cache dir was opened through it): its threads are there besides Node's own.
    expect(own.threads).toBeGreaterThan(PREFETCH_THREADPOOL_SIZE);
    const set = await prefetchThreads(join(root.path, 'pool-set'), { ...env, UV_THREADPOOL_SIZE: '2' });
    expect(set.poolSize).toBe('2');
    expect(set.threads).toBeLessThan(PREFETCH_THREADPOOL_SIZE);
  });

  it('gets its thread pool from the bucketfs command without running itself again', async () => {
    const { UV_THREADPOOL_SIZE: _unset, ...env } = process.env;
    const own = await prefetchThreads(join(root.path, 'pool-bin'), env, BIN_PATH);
    // The environment it was started with, unchanged: no execv put the variable there.
    expect(own.poolSize).toBeUndefined();
    expect(own.threads).toBeGreaterThan(PREFETCH_THREADPOOL_SIZE);
  });

  it('refuses bad input in one line', async () => {
    const noDir = await runCli(['prefetch', 'ais://b/train', '--endpoint', server.url]);
    expect(noDir.code).toBe(2);
    expect(noDir.stderr).toBe('bucketfs: --cache-dir: required (the cache dir the mounts of the job use)\n');
    const badSize = await runCli(['prefetch', 'ais://b', '--cache-dir', join(root.path, 'x'), '--max-cache-size', 'lots']);
    expect(badSize.code).toBe(2);
    expect(badSize.stderr).toMatch(/^bucketfs: --max-cache-size: expected a size such as 10G or a share of the disk such as 20%, got "lots"\n$/);
    const empty = await runCli(['prefetch', 'ais://b/nothing-here', '--cache-dir', join(root.path, 'empty'), '--endpoint', server.url]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^bucketfs: no objects under ais:\/\/b\/nothing-here at .*: nothing to prefetch\n$/);
  });
});
