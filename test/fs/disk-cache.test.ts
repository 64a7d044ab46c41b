import { mkdir, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { BLOCKS_DIR_NAME, SHARD_FOLDERS, TEMP_PREFIX, blockFilePath, objectStem, shardFolder, versionStem, type BlockKey, type ObjectName } from '../../src/fs/disk-cache/block-file.js';
import { writeBlockFile } from '../../src/fs/disk-cache/block-writer.js';
import { CacheDirError, DiskCache, FILL_BATCH_BLOCKS } from '../../src/fs/disk-cache/disk-cache.js';
import { nativeBlockWriter } from '../../src/fs/disk-cache/native-block-writer.js';
import type { CacheLimit } from '../../src/fs/disk-cache/cache-limit.js';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket, type BucketClient } from '../../src/store/bucket-client.js';
import { capturingLogger } from '../helpers/logging.js';
import { blockFilesUnder } from '../helpers/cache-files.js';
import { useServer, withTempDir, writeObjects } from '../helpers/server.js';
import { readAll } from './fixture.js';

const KiB = 1024;
const BLOCK_BYTES = 256 * KiB;

function patterned(bytes: number, seed: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 1) data[i] = (i * 31 + seed) & 0xff;
  return data;
}

const big = patterned(3 * BLOCK_BYTES + 1000, 7);
const small = patterned(40 * KiB, 11);
const files: Record<string, Buffer> = { 'b/big.bin': big, 'b/small.bin': small };
for (let i = 0; i < 12; i += 1) files[`b/many/f${i}`] = patterned(BLOCK_BYTES, i);

describe('disk cache in the read path (real server)', () => {
  const server = useServer(files);
  let store: AistoreClient;
  let cacheDir: { path: string; remove: () => Promise<void> };
  const open: { close(): Promise<void> }[] = [];

  beforeAll(() => {
    store = createAistoreClient();
  });
  afterAll(async () => {
    await store.close();
  });
  afterEach(async () => {
    for (const item of open.splice(0)) await item.close();
    await cacheDir?.remove();
  });

  function countingClient(): { client: BucketClient; gets: { count: number } } {
    const client = bindBucket(store, { name: 'b' }, staticParams(server.url));
    const gets = { count: 0 };
    return { client: { ...client, get: (key, range, options) => ((gets.count += 1), client.get(key, range, options)) }, gets };
  }

  /** A mount's core with a disk cache in `dir` (a fresh process would see the same files). */
  async function mountCore(dir: string, options: { limit?: CacheLimit; logger?: Logger; writeBehindMaxBytes?: number } = {}) {
    const logger: Logger = options.logger ?? pino({ level: 'silent' });
    const writeBehindMaxBytes = options.writeBehindMaxBytes ?? 8 * BLOCK_BYTES;
    const cache = await DiskCache.open({ dir, blockBytes: BLOCK_BYTES, writeBehindMaxBytes, logger, ...(options.limit ? { limit: options.limit } : {}) });
    const { client, gets } = countingClient();
    const fs = createBucketFilesystem({
      client,
      metadataTtlMs: 0,
      negativeMetadataTtlMs: 0,
      allowDelete: true,
      logger,
      readPath: { blockSizeBytes: BLOCK_BYTES, partSizeBytes: BLOCK_BYTES * 2, cacheSizeBytes: 16 * BLOCK_BYTES, smallObjectThresholdBytes: 64 * KiB },
      diskCache: { cache, endpoint: server.url, bucket: 'ais://b' },
    });
    const core = {
      fs,
      cache,
      gets,
      close: async () => {
        await fs.close();
        await cache.close();
      },
    };
    open.push(core);
    return core;
  }

  async function readFile_(fs: Awaited<ReturnType<typeof mountCore>>['fs'], path: string): Promise<Buffer> {
    const { fh } = await fs.open(path, 0);
    try {
      return await readAll(fs, fh, 128 * KiB);
    } finally {
      await fs.release(fh);
    }
  }

  async function version(path: string): Promise<string> {
    const info = await bindBucket(store, { name: 'b' }, staticParams(server.url)).head(path);
    if (info.version === undefined) throw new Error('the server sent no version');
    return info.version;
  }

  function blockPath(dir: string, object: string, objectVersion: string, size: number, blockIndex: number): string {
    const key: BlockKey = { endpoint: server.url, bucket: 'ais://b', object, version: objectVersion, size, blockBytes: BLOCK_BYTES, blockIndex };
    return join(dir, BLOCKS_DIR_NAME, blockFilePath(key));
  }

  it('serves a second mount on the same dir from disk, with no GET, the same bytes', async () => {
    cacheDir = await withTempDir('disk-cache');
    const first = await mountCore(cacheDir.path);
    expect((await readFile_(first.fs, '/big.bin')).equals(big)).toBe(true);
    expect((await readFile_(first.fs, '/small.bin')).equals(small)).toBe(true);
    await first.close();
    expect(first.gets.count).toBeGreaterThan(0);

    const second = await mountCore(cacheDir.path);
    expect((await readFile_(second.fs, '/big.bin')).equals(big)).toBe(true);
    expect((await readFile_(second.fs, '/small.bin')).equals(small)).toBe(true);
    expect(second.gets.count).toBe(0);
    await second.cache.syncSpace();
    const stats = second.cache.stats();
    expect(stats.hits).toBe(5);
    expect(stats.misses).toBe(0);
    expect(stats.bytesServed).toBe(big.length + small.length);
    expect(stats.sizeBytes).toBeGreaterThanOrEqual(big.length + small.length);
  });

  it.each([
    ['a flipped byte', async (path: string) => {
      const file = await readFile(path);
      file[file.length - 5] ^= 0x40;
      await writeFile(path, file);
    }],
    ['a truncated file', async (path: string) => truncate(path, (await stat(path)).size - 100)],
  ])('drops %s, counts it, fetches the block again and reads right', async (_name, damage) => {
    cacheDir = await withTempDir('disk-cache');
    const first = await mountCore(cacheDir.path);
    await readFile_(first.fs, '/big.bin');
    await first.close();
    const path = blockPath(cacheDir.path, 'big.bin', await version('big.bin'), big.length, 1);
    await damage(path);

    const { logger, records } = capturingLogger();
    const second = await mountCore(cacheDir.path, { logger });
    expect((await readFile_(second.fs, '/big.bin')).equals(big)).toBe(true);
    expect(second.cache.stats()).toMatchObject({ checksumFailures: 1, hits: 3, misses: 1 });
    expect(second.gets.count).toBe(1);
    expect(records().some((record) => record.msg.includes('dropped a damaged block'))).toBe(true);
    await second.cache.settled();
    // Written again whole: a third mount reads it from disk.
    const third = await mountCore(cacheDir.path);
    expect((await readFile_(third.fs, '/big.bin')).equals(big)).toBe(true);
    expect(third.gets.count).toBe(0);
    expect(third.cache.stats().checksumFailures).toBe(0);
  });

  it('never serves a half-written temporary file, and never an object changed on the server', async () => {
    cacheDir = await withTempDir('disk-cache');
    const first = await mountCore(cacheDir.path);
    await readFile_(first.fs, '/small.bin');
    await first.close();
    const oldVersion = await version('small.bin');
    const oldPath = blockPath(cacheDir.path, 'small.bin', oldVersion, small.length, 0);
    await stat(oldPath);

    const changed = patterned(small.length, 99);
    await writeObjects(server.dataDir, { 'b/small.bin': changed });
    const newVersion = await version('small.bin');
    expect(newVersion).not.toBe(oldVersion);
    // A writer that died mid-block leaves a temporary file by the new version's name.
    const folder = join(cacheDir.path, BLOCKS_DIR_NAME, shardFolder({ endpoint: server.url, bucket: 'ais://b', object: 'small.bin' }));
    await writeFile(join(folder, `${TEMP_PREFIX}999-dead`), changed.subarray(0, 1000));

    const second = await mountCore(cacheDir.path);
    expect((await readFile_(second.fs, '/small.bin')).equals(changed)).toBe(true);
    expect(second.gets.count).toBe(1);
    await second.cache.settled();
    await expect(stat(oldPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await stat(blockPath(cacheDir.path, 'small.bin', newVersion, small.length, 0));
    await writeObjects(server.dataDir, { 'b/small.bin': small });
  });

  it('drops the blocks of a file deleted through the mount', async () => {
    cacheDir = await withTempDir('disk-cache');
    await writeObjects(server.dataDir, { 'b/doomed.bin': small });
    const core = await mountCore(cacheDir.path);
    await readFile_(core.fs, '/doomed.bin');
    await core.cache.settled();
    const files = (): Promise<string[]> => filesOfObject(cacheDir.path, { endpoint: server.url, bucket: 'ais://b', object: 'doomed.bin' });
    expect(await files()).toHaveLength(1);
    await core.fs.unlink('/doomed.bin');
    await core.cache.settled();
    expect(await files()).toEqual([]);
  });

  it('drops the blocks of a file the mount sees changed or gone on the server, before any open', async () => {
    cacheDir = await withTempDir('disk-cache');
    await writeObjects(server.dataDir, { 'b/moving.bin': small });
    const core = await mountCore(cacheDir.path);
    // As the kernel does: a lookup (whose number it then holds), then the open.
    await core.fs.lookupChild(1, 'moving.bin');
    await readFile_(core.fs, '/moving.bin');
    await core.cache.settled();
    const files = (): Promise<string[]> => filesOfObject(cacheDir.path, { endpoint: server.url, bucket: 'ais://b', object: 'moving.bin' });
    expect(await files()).toHaveLength(1);
    await writeObjects(server.dataDir, { 'b/moving.bin': patterned(small.length + 1, 5) });
    await core.fs.lookupChild(1, 'moving.bin');
    await core.cache.settled();
    expect(await files()).toEqual([]);

    await readFile_(core.fs, '/moving.bin');
    await core.cache.settled();
    expect(await files()).toHaveLength(1);
    await rm(join(server.dataDir, 'b/moving.bin'));
    await expect(core.fs.lookupChild(1, 'moving.bin')).rejects.toMatchObject({ errno: expect.any(Number) });
    await core.cache.settled();
    expect(await files()).toEqual([]);
  });

  it('evicts least recently used blocks to stay under the limit', async () => {
    cacheDir = await withTempDir('disk-cache');
    const limitBytes = 6 * (BLOCK_BYTES + 4 * KiB);
    const core = await mountCore(cacheDir.path, { limit: { kind: 'bytes', bytes: limitBytes } });
    for (let i = 0; i < 12; i += 1) {
      expect((await readFile_(core.fs, `/many/f${i}`)).equals(patterned(BLOCK_BYTES, i))).toBe(true);
      await core.cache.settled();
      await core.cache.syncSpace();
      expect(await blockBytesOnDisk(cacheDir.path)).toBeLessThanOrEqual(limitBytes);
    }
    const stats = core.cache.stats();
    expect(stats.evictions).toBeGreaterThan(0);
    expect(stats.sizeBytes).toBe(await blockBytesOnDisk(cacheDir.path));
    // The newest stayed.
    await stat(blockPath(cacheDir.path, 'many/f11', await version('many/f11'), BLOCK_BYTES, 0));
  });

  it('serves a read whose write behind fails, counts the failure, leaves no temporary file and keeps caching', async () => {
    cacheDir = await withTempDir('disk-cache');
    const core = await mountCore(cacheDir.path);
    // A folder where the block's file goes: its rename fails (EISDIR), which says nothing of the disk.
    const blocked = blockPath(cacheDir.path, 'small.bin', await version('small.bin'), small.length, 0);
    // After the first count of the dir's files, which would remove a folder in a shard as one of an old layout.
    await core.cache.syncSpace();
    await mkdir(blocked, { recursive: true });
    expect((await readFile_(core.fs, '/small.bin')).equals(small)).toBe(true);
    await core.cache.settled();
    expect(core.cache.stats()).toMatchObject({ enabled: true, writesFailed: 1 });
    expect((await readdir(join(blocked, '..'))).filter((name) => name.startsWith(TEMP_PREFIX))).toEqual([]);
    expect((await readFile_(core.fs, '/big.bin')).equals(big)).toBe(true);
    await core.cache.settled();
    expect(core.cache.stats().writesFailed).toBe(1);
    await stat(blockPath(cacheDir.path, 'big.bin', await version('big.bin'), big.length, 0));
  });

  it('drops the writes behind past their bound at once, never waiting, and writes the rest', async () => {
    cacheDir = await withTempDir('disk-cache');
    const cache = await DiskCache.open({ dir: cacheDir.path, blockBytes: BLOCK_BYTES, writeBehindMaxBytes: 2 * BLOCK_BYTES, logger: pino({ level: 'silent' }) });
    open.push(cache);
    const key = (i: number): BlockKey => ({ endpoint: server.url, bucket: 'ais://b', object: `bound/f${i}`, version: '1', size: BLOCK_BYTES, blockBytes: BLOCK_BYTES, blockIndex: 0 });
    // One turn of the event loop: none of these can have been written yet, so two fill the bound.
    for (let i = 0; i < 5; i += 1) cache.storeBlock(key(i), patterned(BLOCK_BYTES, i), undefined);
    expect(cache.stats().writesSkipped).toBe(3);
    await cache.settled();
    expect(cache.stats()).toMatchObject({ writesSkipped: 3, writesFailed: 0 });
    const into = Buffer.alloc(BLOCK_BYTES);
    expect(await cache.readBlock(key(0), into)).toBe(true);
    expect(into.equals(patterned(BLOCK_BYTES, 0))).toBe(true);
    expect(await cache.readBlock(key(1), into)).toBe(true);
    expect(await cache.readBlock(key(2), into)).toBe(false);
  });

  it('writes the fills that come together with one call to the native writer per batch, not one per block', async () => {
    cacheDir = await withTempDir('disk-cache');
    const blocks = FILL_BATCH_BLOCKS + 4;
    const cache = await DiskCache.open({ dir: cacheDir.path, blockBytes: BLOCK_BYTES, writeBehindMaxBytes: blocks * 5000, logger: pino({ level: 'silent' }) });
    open.push(cache);
    const key = (i: number): BlockKey => ({ endpoint: server.url, bucket: 'ais://b', object: `batch/f${i}`, version: '1', size: 5000, blockBytes: BLOCK_BYTES, blockIndex: 0 });
    const native = nativeBlockWriter();
    expect(native).toBeDefined();
    const calls = native!.writeCalls();
    // One turn of the event loop: every fill is queued before the first write starts.
    for (let i = 0; i < blocks; i += 1) cache.storeBlock(key(i), patterned(5000, i), undefined);
    await cache.settled();
    expect(native!.writeCalls() - calls).toBe(Math.ceil(blocks / FILL_BATCH_BLOCKS));
    expect(cache.stats()).toMatchObject({ writesSkipped: 0, writesFailed: 0 });
    const into = Buffer.alloc(5000);
    for (let i = 0; i < blocks; i += 1) {
      expect(await cache.readBlock(key(i), into)).toBe(true);
      expect(into.equals(patterned(5000, i))).toBe(true);
    }
  });

  it('removes the blocks of the layout of before (a folder per object) at its first count, never serving them', async () => {
    cacheDir = await withTempDir('disk-cache');
    const blocks = join(cacheDir.path, BLOCKS_DIR_NAME);
    const key: BlockKey = { endpoint: server.url, bucket: 'ais://b', object: 'old/layout.bin', version: '1', size: 5000, blockBytes: BLOCK_BYTES, blockIndex: 0 };
    // As it was written before: DIR/blocks/<2 hex>/<object hash>/<version hash>-<blockBytes>-<index>, and the state of then.
    const stem = objectStem(key);
    const oldFolder = join(blocks, shardFolder(key), stem.slice(0, -1));
    const staging = join(cacheDir.path, 'staging');
    await mkdir(staging);
    await writeBlockFile(staging, key, patterned(5000, 1));
    await mkdir(oldFolder, { recursive: true });
    await rename(join(staging, blockFilePath(key)), join(oldFolder, `${versionStem(key).slice(stem.length)}0`));
    await writeFile(join(blocks, '.state'), JSON.stringify({ sizeBytes: 9000, scannedAtMs: Date.now() }));

    const cache = await DiskCache.open({ dir: cacheDir.path, blockBytes: BLOCK_BYTES, writeBehindMaxBytes: BLOCK_BYTES, logger: pino({ level: 'silent' }) });
    open.push(cache);
    expect(await cache.readBlock(key, Buffer.alloc(5000))).toBe(false);
    await cache.syncSpace();
    await expect(stat(oldFolder)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(cache.stats().sizeBytes).toBe(0);
    await cache.writeBlock(key, patterned(5000, 1));
    const into = Buffer.alloc(5000);
    expect(await cache.readBlock(key, into)).toBe(true);
    expect(into.equals(patterned(5000, 1))).toBe(true);
  });

  it('makes every shard folder when it opens a cache dir, so that no block write makes one', async () => {
    cacheDir = await withTempDir('disk-cache');
    const cache = await DiskCache.open({ dir: cacheDir.path, blockBytes: BLOCK_BYTES, writeBehindMaxBytes: BLOCK_BYTES, logger: pino({ level: 'silent' }) });
    open.push(cache);
    const folders = (await readdir(join(cacheDir.path, BLOCKS_DIR_NAME), { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    expect(folders.sort()).toEqual(SHARD_FOLDERS);
    const key: BlockKey = { endpoint: server.url, bucket: 'ais://b', object: 'any.bin', version: '1', size: 5000, blockBytes: BLOCK_BYTES, blockIndex: 0 };
    expect(SHARD_FOLDERS).toContain(shardFolder(key));
  });

  it('refuses a cache dir it cannot write, in one line', async () => {
    cacheDir = await withTempDir('disk-cache');
    const file = join(cacheDir.path, 'a-file');
    await writeFile(file, '');
    const opening = DiskCache.open({ dir: join(file, 'cache'), blockBytes: BLOCK_BYTES, writeBehindMaxBytes: BLOCK_BYTES, logger: pino({ level: 'silent' }) });
    await expect(opening).rejects.toBeInstanceOf(CacheDirError);
    await expect(opening).rejects.toThrow(/^--cache-dir .*: not writable \(ENOTDIR\)$/);
  });
});

/** Bytes of block files (and temporary ones) under the cache dir. */
async function blockBytesOnDisk(dir: string): Promise<number> {
  return (await blockFilesUnder(dir)).reduce((total, file) => total + file.bytes, 0);
}

/** The names of an object's block files (every version) in its shard. */
async function filesOfObject(dir: string, object: ObjectName): Promise<string[]> {
  const names = await readdir(join(dir, BLOCKS_DIR_NAME, shardFolder(object))).catch(() => []);
  return names.filter((name) => name.startsWith(objectStem(object)));
}
