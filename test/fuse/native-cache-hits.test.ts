import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockCacheFor } from '../../src/fs/block-cache.js';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { BLOCKS_DIR_NAME, HEADER_PROBE_BYTES } from '../../src/fs/disk-cache/block-file.js';
import { DiskCache } from '../../src/fs/disk-cache/disk-cache.js';
import { resolveReadPathOptions } from '../../src/fs/read-path-options.js';
import type { CachedRange, ChangeNotifying, InodeFilesystem, PathFilesystem } from '../../src/fs/types.js';
import { mountFilesystem, type EngineStats, type MountHandle } from '../../src/fuse/mount.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { cleanupMounts, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run } from '../helpers/processes.js';

/*
 * The native engine's cache hits: a core whose cachedRange points into block files it wrote itself
 * (a header, then the data, a CRC-32 per 64 KiB piece), mounted for real. The engine must read and
 * check those files on its own threads, serve the right bytes, and send a corrupt or unreadable
 * block back to the usual read without the reader seeing anything.
 */
type Core = PathFilesystem & InodeFilesystem & ChangeNotifying;

const KiB = 1024;
const MiB = 1024 * KiB;
const PIECE_BYTES = 64 * KiB;
/** Not a multiple of 1 MiB: the kernel's reads straddle blocks. */
const BLOCK_BYTES = 5 * PIECE_BYTES;
const HEADER_BYTES = 4 * KiB;
const silent = pino({ level: 'silent' });
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** One cached block: its file, the CRC of each piece, and the descriptor cachedRange hands out. */
interface Block {
  readonly path: string;
  readonly crcs: Uint32Array;
  fd: number;
}

/** The block files of the objects the test caches, written in the cache's layout by the test itself. */
class FakeBlockCache {
  readonly dir = mkdtempSync(join(tmpdir(), 'bucketfs-cache-hits-'));
  private readonly blocks = new Map<string, Map<number, Block>>();
  /** Ranges handed out and not released yet. */
  outstanding = 0;
  readonly corrupted: string[] = [];
  readonly asked: string[] = [];

  /** Writes the blocks of `data` as `name` (all, or those `which` picks). */
  put(name: string, data: Buffer, which: (index: number) => boolean = () => true): void {
    const blocks = new Map<number, Block>();
    for (let index = 0; index * BLOCK_BYTES < data.length; index += 1) {
      if (!which(index)) continue;
      const bytes = data.subarray(index * BLOCK_BYTES, (index + 1) * BLOCK_BYTES);
      const crcs = new Uint32Array(Math.ceil(bytes.length / PIECE_BYTES));
      for (let piece = 0; piece < crcs.length; piece += 1) crcs[piece] = crc32(bytes.subarray(piece * PIECE_BYTES, (piece + 1) * PIECE_BYTES));
      const header = Buffer.alloc(HEADER_BYTES);
      header.write(JSON.stringify({ object: name, block: index, size: data.length, pieceBytes: PIECE_BYTES, crcs: [...crcs] }));
      const path = join(this.dir, `${name}.${index}`);
      writeFileSync(path, Buffer.concat([header, bytes]));
      blocks.set(index, { path, crcs, fd: openSync(path, 'r') });
    }
    this.blocks.set(name, blocks);
  }

  /** Changes one byte of a block's data on disk, as bit rot would. */
  flip(name: string, index: number, at: number): void {
    const block = this.block(name, index);
    const content = readFileSync(block.path);
    content[HEADER_BYTES + at] = (content[HEADER_BYTES + at] ?? 0) ^ 0xff;
    writeFileSync(block.path, content);
  }

  truncate(name: string, index: number, dataBytes: number): void {
    truncateSync(this.block(name, index).path, HEADER_BYTES + dataBytes);
  }

  /** Hands out a descriptor that cannot be read (a folder's): pread fails. */
  unreadable(name: string, index: number): void {
    const block = this.block(name, index);
    closeSync(block.fd);
    block.fd = openSync(this.dir, 'r');
  }

  range(name: string, size: number, position: number, length: number): CachedRange | undefined {
    const index = Math.floor(position / BLOCK_BYTES);
    const block = this.blocks.get(name)?.get(index);
    if (block === undefined || position >= size) return undefined;
    const inBlock = position - index * BLOCK_BYTES;
    const served = Math.min(length, Math.min(BLOCK_BYTES, size - index * BLOCK_BYTES) - inBlock);
    const firstPiece = Math.floor(inBlock / PIECE_BYTES);
    const lastPiece = Math.floor((inBlock + served - 1) / PIECE_BYTES);
    this.outstanding += 1;
    this.asked.push(`${name}:${index}`);
    let released = false;
    return {
      fd: block.fd,
      filePosition: HEADER_BYTES + inBlock,
      length: served,
      pieceBytes: PIECE_BYTES,
      pieceCrcs: block.crcs.subarray(firstPiece, lastPiece + 1),
      firstPieceFilePosition: HEADER_BYTES + firstPiece * PIECE_BYTES,
      release: () => {
        if (released) throw new Error(`range of ${name}:${index} released twice`);
        released = true;
        this.outstanding -= 1;
      },
      corrupt: () => {
        this.corrupted.push(`${name}:${index}`);
        this.blocks.get(name)?.delete(index);
      },
    };
  }

  close(): void {
    for (const blocks of this.blocks.values()) for (const block of blocks.values()) closeSync(block.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private block(name: string, index: number): Block {
    const block = this.blocks.get(name)?.get(index);
    if (block === undefined) throw new Error(`no block ${name}:${index}`);
    return block;
  }
}

describe('the native engine serving cache hits', () => {
  const bucket = new MemoryBucket();
  // Made when the suite runs, not when it is collected: a run that filters these tests out leaves no folder behind.
  let cache!: FakeBlockCache;
  const objects = new Map<string, Buffer>();
  /** Core reads (the usual path) within each object's bytes, by object name. */
  const coreReads = new Map<string, number>();
  let handle: MountHandle | undefined;
  let mountpoint = '';
  const engineStats = (): EngineStats & { dispatched: number; cacheHits: number; cacheHitBytes: number; cacheFallbacks: number } => {
    const stats = handle?.engineStats?.();
    if (stats === undefined) throw new Error('the native mount keeps engine stats');
    return stats as EngineStats & { dispatched: number; cacheHits: number; cacheHitBytes: number; cacheFallbacks: number };
  };
  const object = (name: string, bytes: number): Buffer => {
    const data = randomBytes(bytes);
    objects.set(name, data);
    bucket.set(name, data);
    return data;
  };

  beforeAll(async () => {
    cache = new FakeBlockCache();
    const inner = createBucketFilesystem({ client: bucket, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: silent });
    const names = new Map<number, string>();
    const opened = new Map<number, string>();
    const core = new Proxy(inner as Core, {
      get(target, property: keyof Core) {
        if (property === 'lookupChild') {
          return async (parentIno: number, name: string) => {
            const attr = await target.lookupChild(parentIno, name);
            names.set(attr.ino, name);
            return attr;
          };
        }
        if (property === 'openByIno') {
          return async (ino: number, flags: number) => {
            const result = await target.openByIno(ino, flags);
            opened.set(result.fh, names.get(ino) ?? '');
            return result;
          };
        }
        if (property === 'read') {
          return (fh: number, buffer: Buffer, length: number, position: number) => {
            const name = opened.get(fh) ?? '';
            if (position < (objects.get(name)?.length ?? 0)) coreReads.set(name, (coreReads.get(name) ?? 0) + 1);
            return target.read(fh, buffer, length, position);
          };
        }
        if (property === 'cachedRange') {
          return (fh: number, position: number, length: number) => {
            const name = opened.get(fh) ?? '';
            return cache.range(name, objects.get(name)?.length ?? 0, position, length);
          };
        }
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    cache.put('cached.bin', object('cached.bin', 3 * MiB + 1234));
    cache.put('direct.bin', object('direct.bin', 2 * MiB + 4321));
    cache.put('partly.bin', object('partly.bin', 3 * MiB + 77), (index) => index % 2 === 0);
    cache.put('flipped.bin', object('flipped.bin', 2 * MiB));
    cache.flip('flipped.bin', 1, 3 * PIECE_BYTES + 17);
    cache.put('truncated.bin', object('truncated.bin', 2 * MiB));
    cache.truncate('truncated.bin', 2, 2 * PIECE_BYTES + 5);
    cache.put('unreadable.bin', object('unreadable.bin', MiB));
    cache.unreadable('unreadable.bin', 0);
    cache.put('lent.bin', object('lent.bin', 4 * MiB));
    cache.put('lent-flipped.bin', object('lent-flipped.bin', 4 * MiB));
    mountpoint = makeMountpoint('cache-hits');
    handle = await mountFilesystem(core, mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs: 60_000, logger: silent, engine: 'native', operationTimeoutMs: 10_000 });
  });

  afterAll(async () => {
    await handle?.unmount().catch(() => {});
    cleanupMounts();
    cache?.close();
  });

  /** sha256 of the file through the mount, read with `dd` (O_DIRECT: each 1 MiB read reaches the engine) or buffered. */
  const hashThroughMount = async (name: string, direct: boolean): Promise<string> => {
    const path = join(mountpoint, name);
    const command = direct ? `dd if='${path}' bs=1M iflag=direct status=none | sha256sum` : `sha256sum '${path}'`;
    const result = await run('sh', ['-c', command]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.split(' ')[0] ?? '';
  };

  const expectAllReleased = (): Promise<void> => waitUntil(() => cache.outstanding === 0, 10_000, 'every cached range to be released');

  it('serves a cached file from the block files, none of its bytes read by the core', async () => {
    const before = engineStats();
    expect(await hashThroughMount('cached.bin', false)).toBe(sha256(objects.get('cached.bin')!));
    const after = engineStats();
    expect(coreReads.get('cached.bin') ?? 0).toBe(0);
    expect(after.cacheHits).toBeGreaterThan(before.cacheHits);
    expect(after.cacheHitBytes - before.cacheHitBytes).toBe(objects.get('cached.bin')!.length);
    expect(after.cacheFallbacks).toBe(before.cacheFallbacks);
    await expectAllReleased();
  });

  it('serves 1 MiB reads that span several blocks and end past the end of the file', async () => {
    const before = engineStats();
    expect(await hashThroughMount('direct.bin', true)).toBe(sha256(objects.get('direct.bin')!));
    const after = engineStats();
    expect(coreReads.get('direct.bin') ?? 0).toBe(0);
    // Three 1 MiB reads, each served whole from the blocks it spans.
    expect(after.cacheHits - before.cacheHits).toBe(3);
    await expectAllReleased();
  });

  it('reads what the cache lacks as usual, next to what it holds', async () => {
    expect(await hashThroughMount('partly.bin', true)).toBe(sha256(objects.get('partly.bin')!));
    expect(coreReads.get('partly.bin')).toBeGreaterThan(0);
    expect(cache.asked.filter((key) => key.startsWith('partly.bin:')).length).toBeGreaterThan(0);
    await expectAllReleased();
  });

  it('detects a flipped byte, drops the block once and serves the right bytes from the store', async () => {
    const before = engineStats();
    expect(await hashThroughMount('flipped.bin', true)).toBe(sha256(objects.get('flipped.bin')!));
    expect(cache.corrupted.filter((key) => key.startsWith('flipped.bin:'))).toEqual(['flipped.bin:1']);
    expect(engineStats().cacheFallbacks - before.cacheFallbacks).toBe(1);
    await expectAllReleased();
  });

  it('detects a truncated block file and serves the right bytes from the store', async () => {
    expect(await hashThroughMount('truncated.bin', true)).toBe(sha256(objects.get('truncated.bin')!));
    expect(cache.corrupted.filter((key) => key.startsWith('truncated.bin:'))).toEqual(['truncated.bin:2']);
    await expectAllReleased();
  });

  /**
   * Reads `name` through one handle of the mount, 1 MiB at a time (O_DIRECT: each read reaches the engine), calling
   * `afterFirst` after the first read and `beforeClose` after the last.
   */
  const readInOneHandle = async (name: string, afterFirst: () => void, beforeClose: () => void): Promise<Buffer> => {
    const file = await open(join(mountpoint, name), constants.O_RDONLY | constants.O_DIRECT);
    try {
      const size = objects.get(name)!.length;
      const data = Buffer.alloc(size);
      for (let at = 0; at < size; at += MiB) {
        const { bytesRead } = await file.read(data, at, Math.min(MiB, size - at), at);
        expect(bytesRead).toBe(Math.min(MiB, size - at));
        if (at === 0) afterFirst();
      }
      beforeClose();
      return data;
    } finally {
      await file.close();
    }
  };

  it('serves the reads after a handle\'s first from the blocks lent to the engine, none of them reaching JS', async () => {
    let before = engineStats();
    let after = before;
    const data = await readInOneHandle(
      'lent.bin',
      () => (before = engineStats()),
      () => (after = engineStats()),
    );
    expect(data.equals(objects.get('lent.bin')!)).toBe(true);
    // The first read lent the engine the blocks that follow: the reads after it (the kernel may split each) were no requests to JS.
    expect(after.dispatched - before.dispatched).toBe(0);
    expect(after.cacheHits - before.cacheHits).toBeGreaterThanOrEqual(3);
    expect(after.cacheHitBytes - before.cacheHitBytes).toBeGreaterThanOrEqual(3 * MiB);
    expect(coreReads.get('lent.bin') ?? 0).toBe(0);
    await expectAllReleased();
  });

  it('never serves a lent block damaged after it was lent: that read goes to the store, with the right bytes', async () => {
    let before = engineStats();
    const data = await readInOneHandle(
      'lent-flipped.bin',
      () => {
        // Bit rot in place, in a block the engine holds already (at 2 MiB + 100 KiB).
        cache.flip('lent-flipped.bin', 6, 2 * MiB + 100 * KiB - 6 * BLOCK_BYTES);
        before = engineStats();
      },
      () => {},
    );
    expect(data.equals(objects.get('lent-flipped.bin')!)).toBe(true);
    expect(engineStats().cacheFallbacks - before.cacheFallbacks).toBe(1);
    expect(coreReads.get('lent-flipped.bin')).toBeGreaterThan(0);
    await expectAllReleased();
  });

  it('reads as usual when a block file cannot be read, without calling the block corrupt', async () => {
    const before = engineStats();
    expect(await hashThroughMount('unreadable.bin', true)).toBe(sha256(objects.get('unreadable.bin')!));
    expect(engineStats().cacheFallbacks - before.cacheFallbacks).toBe(1);
    expect(cache.corrupted.filter((key) => key.startsWith('unreadable.bin:'))).toEqual([]);
    await expectAllReleased();
  });
});

/** The block files under a cache dir, by name (`<version hash>-<block bytes>-<index>`), in no order. */
function blockFilesUnder(cacheDir: string): string[] {
  return readdirSync(join(cacheDir, BLOCKS_DIR_NAME), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('the native engine serving hits of the real disk cache', () => {
  const bucket = new MemoryBucket();
  let cacheDir = '';
  const big = randomBytes(12 * MiB + 999);
  let handle: MountHandle | undefined;
  let diskCache: DiskCache | undefined;
  let mountpoint = '';
  type RealCacheStats = EngineStats & { cacheHits: number; cacheHitBytes: number; cacheFallbacks: number; opensServed: number; blockFileReads: number; blockFileReadBytes: number; blockFileDirectReads: number; cacheReportCalls: number; pageStores: number; readRequests: number };
  const engineStats = (): RealCacheStats => handle!.engineStats!() as RealCacheStats;
  /** What reached the core's opens, reads and releases of files. */
  const coreCalls = { lookupChild: 0, openByIno: 0, read: 0, release: 0, engineLacksBlock: 0 };
  /** Operations the mount reported (its metrics), answered by the core or by the engine alone. */
  const reported = { open: 0, read: 0, readBytes: 0, release: 0 };
  const observer = {
    operationDone: ({ op, bytes }: { op: string; bytes: number }): void => {
      if (op === 'read') {
        reported.read += 1;
        reported.readBytes += bytes;
      }
      if (op === 'release') reported.release += 1;
      if (op === 'open') reported.open += 1;
    },
  };

  /** A mount of the bucket with the disk cache on `cacheDir`, as `bucketfs mount --cache-dir` makes it. */
  const mountWithCache = async (metadataTtlMs = 60_000): Promise<void> => {
    const readPath = resolveReadPathOptions();
    const blockCache = blockCacheFor(readPath);
    diskCache = await DiskCache.open({ dir: cacheDir, blockBytes: blockCache.blockSizeBytes, writeBehindMaxBytes: 64 * MiB, logger: silent });
    const core = createBucketFilesystem({
      client: bucket,
      metadataTtlMs,
      negativeMetadataTtlMs: 1_000,
      allowDelete: false,
      logger: silent,
      blockCache,
      diskCache: { cache: diskCache, endpoint: 'memory', bucket: 'ais://b' },
    });
    const counted = new Proxy(core, {
      get(target, property: keyof typeof core) {
        if (property === 'lookupChild' || property === 'openByIno' || property === 'read' || property === 'release' || property === 'engineLacksBlock') coreCalls[property] += 1;
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    mountpoint = makeMountpoint('cache-hits-real');
    handle = await mountFilesystem(counted, mountpoint, { fsname: 'bucketfs#memory', metadataTtlMs, logger: silent, engine: 'native', operationTimeoutMs: 10_000, observer });
  };
  const unmountAll = async (): Promise<void> => {
    await handle?.unmount();
    handle = undefined;
    await diskCache?.close();
    diskCache = undefined;
  };
  const hashThroughMount = async (name: string): Promise<string> => {
    const result = await run('sh', ['-c', `dd if='${join(mountpoint, name)}' bs=1M iflag=direct status=none | sha256sum`]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.split(' ')[0] ?? '';
  };

  const smalls = Array.from({ length: 20 }, (_, index) => ({ name: `small-${String(index).padStart(2, '0')}.bin`, data: randomBytes(100 * KiB + index) }));
  const smallBytes = smalls.reduce((sum, { data }) => sum + data.length, 0);
  const catAll = async (): Promise<void> => {
    const paths = smalls.map(({ name }) => `'${join(mountpoint, name)}'`).join(' ');
    const result = await run('sh', ['-c', `for f in ${paths}; do sha256sum "$f"; done`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n').map((line) => line.split(' ')[0])).toEqual(smalls.map(({ data }) => sha256(data)));
  };

  /** Two objects of one size: each one's block file is a well-formed block of the other's length. */
  const twins = ['twin-a.bin', 'twin-b.bin'].map((name) => ({ name, data: randomBytes(70 * KiB) }));
  const catTwins = async (): Promise<void> => {
    for (const { name, data } of twins) {
      const result = await run('sha256sum', [join(mountpoint, name)]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.split(' ')[0]).toBe(sha256(data));
    }
  };
  /** The block file whose header says it holds `dataBytes` bytes (the objects here differ in length, but the twins). */
  const blockFilesOfLength = (dataBytes: number): string[] =>
    blockFilesUnder(cacheDir).filter((path) => {
      const fd = openSync(path, 'r');
      try {
        const header = Buffer.alloc(20);
        readSync(fd, header, 0, header.length, 0);
        return header.readUInt32LE(16) === dataBytes;
      } finally {
        closeSync(fd);
      }
    });

  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'bucketfs-cache-hits-real-'));
    bucket.set('big.bin', big);
    for (const { name, data } of [...smalls, ...twins]) bucket.set(name, data);
    // The first mount reads everything once: the blocks land in the cache dir behind the reads.
    await mountWithCache();
    expect(await hashThroughMount('big.bin')).toBe(sha256(big));
    await catAll();
    await catTwins();
    await diskCache!.settled();
    await unmountAll();
    await mountWithCache();
  });

  afterAll(async () => {
    await handle?.unmount().catch(() => {});
    await diskCache?.close().catch(() => {});
    cleanupMounts();
    if (cacheDir !== '') rmSync(cacheDir, { recursive: true, force: true });
  });

  it('serves small files cached by an earlier mount from their block files, read by the engine', async () => {
    const before = engineStats();
    await catAll();
    const after = engineStats();
    // The mount's first file is read before its engine has asked for a range and goes through memory; from
    // then on a cached file's block file is opened with the file and each read is served by the engine.
    expect(after.cacheHits - before.cacheHits).toBeGreaterThanOrEqual(smalls.length - 3);
    expect(after.cacheFallbacks).toBe(before.cacheFallbacks);
    expect(diskCache!.stats()).toMatchObject({ misses: 0, checksumFailures: 0 });
  });

  it('reads a large cached file right after a remount, with no miss', async () => {
    expect(await hashThroughMount('big.bin')).toBe(sha256(big));
    expect(diskCache!.stats()).toMatchObject({ misses: 0, checksumFailures: 0 });
  });

  it('serves a large cached file read again from its block files, by the engine, not copied through memory', async () => {
    const before = engineStats();
    expect(await hashThroughMount('big.bin')).toBe(sha256(big));
    // Its files are open now: but for the first reads (their blocks may still be in memory), the engine serves them.
    expect(engineStats().cacheHitBytes - before.cacheHitBytes).toBeGreaterThanOrEqual(big.length - 4 * MiB);
    expect(diskCache!.stats()).toMatchObject({ misses: 0, checksumFailures: 0 });
  });

  it('fetches a block missing in the middle of a file the engine streams, and writes it to the cache again', async () => {
    const bigBlocks = blockFilesOfLength(MiB);
    expect(bigBlocks).toHaveLength(12);
    const missing = bigBlocks.find((path) => path.endsWith('-8'));
    expect(missing).toBeDefined();
    await unmountAll();
    unlinkSync(missing!);
    await mountWithCache();
    expect(await hashThroughMount('big.bin')).toBe(sha256(big));
    // The read that missed continues the stream the engine served: fetched as a block, through the cache.
    await diskCache!.settled();
    expect(existsSync(missing!)).toBe(true);
  });

  it('drops a block file with a flipped byte, counts one checksum failure and serves the right bytes', async () => {
    const victim = smalls[7]!;
    // Bit rot in place, in the data of the victim's block (told apart by its length): the descriptor the mount holds sees it too.
    let flipped = false;
    for (const path of blockFilesUnder(cacheDir)) {
      const fd = openSync(path, 'r+');
      try {
        const header = Buffer.alloc(20);
        readSync(fd, header, 0, header.length, 0);
        if (header.readUInt32LE(16) !== victim.data.length) continue;
        const at = header.readUInt32LE(12) + 70_000;
        writeSync(fd, Buffer.from([(victim.data[70_000] ?? 0) ^ 0x01]), 0, 1, at);
        flipped = true;
      } finally {
        closeSync(fd);
      }
    }
    expect(flipped).toBe(true);
    const before = engineStats();
    const coreBefore = { ...coreCalls };
    expect(await hashThroughMount(victim.name)).toBe(sha256(victim.data));
    expect(engineStats().cacheFallbacks - before.cacheFallbacks).toBe(1);
    expect(diskCache!.stats().checksumFailures).toBe(1);
    // The engine opened it alone (its header holds); the bad read made the core open it then, and read it.
    expect(engineStats().opensServed - before.opensServed).toBe(1);
    expect(coreCalls.openByIno - coreBefore.openByIno).toBe(1);
    await waitUntil(() => coreCalls.release - coreBefore.release >= 1, 10_000, 'the core to release its handle of the file');
  });

  it('serves small files after a remount from their whole blocks: no open, read or release reaches the core', async () => {
    // The block the test before dropped is written again after its read: every file must have one at the remount.
    await diskCache!.settled();
    await unmountAll();
    await mountWithCache();
    const before = { ...coreCalls, ...diskCache!.stats() };
    const reportedBefore = { ...reported, open: reported.open };
    const engineBefore = engineStats();
    await catAll();
    // Each lookup's answer offered the engine the file's block: it opened, read and released every file alone.
    expect(coreCalls.openByIno - before.openByIno).toBe(0);
    expect(coreCalls.read - before.read).toBe(0);
    expect(coreCalls.release - before.release).toBe(0);
    expect(engineStats().opensServed - engineBefore.opensServed).toBe(smalls.length);
    expect(engineStats().cacheHitBytes - engineBefore.cacheHitBytes).toBe(smallBytes);
    // The core hears of the hits, and the mount's metrics of the opens, reads and releases, without a request each.
    await waitUntil(() => reported.release - reportedBefore.release >= smalls.length, 10_000, 'every release to be reported');
    expect(diskCache!.stats().bytesServed - before.bytesServed).toBe(smallBytes);
    expect(diskCache!.stats()).toMatchObject({ misses: before.misses, checksumFailures: before.checksumFailures });
    expect(reported.readBytes - reportedBefore.readBytes).toBe(smallBytes);
    expect(reported.read - reportedBefore.read).toBeGreaterThanOrEqual(smalls.length);
    expect(reported.open - reportedBefore.open).toBe(smalls.length);
    expect(reported.release - reportedBefore.release).toBe(smalls.length);
  });

  /** Mounts again, runs `prepare`, reads every small file; the engine's stats before and after the reads. */
  const catAllAfterRemount = async (prepare?: () => Promise<void> | void): Promise<{ before: RealCacheStats; after: RealCacheStats }> => {
    await unmountAll();
    await mountWithCache();
    await prepare?.();
    const before = engineStats();
    await catAll();
    return { before, after: engineStats() };
  };

  it('reads each small file\'s block file once after a remount: its header and data with the open, its READs from what that read', async () => {
    const { before, after } = await catAllAfterRemount();
    expect(after.opensServed - before.opensServed).toBe(smalls.length);
    expect(after.blockFileReads - before.blockFileReads).toBe(smalls.length);
    expect(after.cacheFallbacks).toBe(before.cacheFallbacks);
    expect(after.cacheHitBytes - before.cacheHitBytes).toBe(smallBytes);
  });

  it('hands the kernel a small file\'s pages with its open after a remount: its reads find them, no READ is sent', async () => {
    const { before, after } = await catAllAfterRemount();
    expect(after.opensServed - before.opensServed).toBe(smalls.length);
    expect(after.pageStores - before.pageStores).toBe(smalls.length);
    expect(after.readRequests - before.readRequests).toBe(0);
    expect(after.cacheHitBytes - before.cacheHitBytes).toBe(smallBytes);
  });

  it('hands no pages to the kernel for a reader that opens a small file with O_DIRECT: its READs are served', async () => {
    await unmountAll();
    await mountWithCache();
    const target = smalls[4]!;
    const before = engineStats();
    expect(await hashThroughMount(target.name)).toBe(sha256(target.data));
    const after = engineStats();
    expect(after.opensServed - before.opensServed).toBe(1);
    expect(after.pageStores - before.pageStores).toBe(0);
    expect(after.readRequests - before.readRequests).toBeGreaterThan(0);
    expect(after.cacheFallbacks).toBe(before.cacheFallbacks);
  });

  it('reads only the header of a small file opened again while the kernel keeps its pages', async () => {
    const { before, after } = await catAllAfterRemount(catAll);
    expect(after.opensServed - before.opensServed).toBe(smalls.length);
    expect(after.readRequests - before.readRequests).toBe(0);
    expect(after.pageStores - before.pageStores).toBe(0);
    expect(after.blockFileReads - before.blockFileReads).toBe(smalls.length);
    expect(after.blockFileReadBytes - before.blockFileReadBytes).toBe(smalls.length * HEADER_PROBE_BYTES);
  });

  /** The block files of the small files, told apart by their lengths (reading their headers caches those pages). */
  const smallBlockFiles = (): string[] => smalls.flatMap(({ data }) => blockFilesOfLength(data.length));
  /** Bytes of `paths` the kernel's page cache holds, as fincore(1) counts them. */
  const residentBytesOf = async (paths: readonly string[]): Promise<number> => {
    const result = await run('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...paths]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.trim().split('\n').reduce((sum, line) => sum + Number(line.trim()), 0);
  };
  /**
   * Drops the pages of `paths` from the page cache, as a reboot would; block files are written back first, so that
   * their bytes are on the disk alone. File by file (fadvise DONTNEED, through dd), not the whole machine's cache,
   * which other tests rely on.
   */
  const evictPages = async (paths: readonly string[], { writeBack = true } = {}): Promise<void> => {
    if (writeBack) expect((await run('sync', [...paths])).code).toBe(0);
    for (const path of paths) {
      const result = await run('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
      expect(result.code, result.stderr).toBe(0);
    }
  };

  /** Every small file was opened and its pages handed to the kernel by the engine alone, `directReads` of their block files read past the page cache. */
  const expectServedAlone = (before: RealCacheStats, after: RealCacheStats, directReads: number): void => {
    expect(after.opensServed - before.opensServed).toBe(smalls.length);
    expect(after.blockFileDirectReads - before.blockFileDirectReads).toBe(directReads);
    expect(after.pageStores - before.pageStores).toBe(smalls.length);
    expect(after.cacheFallbacks).toBe(before.cacheFallbacks);
    expect(after.cacheHitBytes - before.cacheHitBytes).toBe(smallBytes);
  };

  it('reads a small file\'s block file past the page cache after a remount, its pages dropped: its bytes land in the kernel once', async () => {
    const blockFiles = smallBlockFiles();
    expect(blockFiles).toHaveLength(smalls.length);
    const { before, after } = await catAllAfterRemount(() => evictPages(blockFiles));
    expectServedAlone(before, after, smalls.length);
    expect(after.readRequests - before.readRequests).toBe(0);
    // The mounted files' pages hold the bytes; the block files' pages were never filled.
    expect(await residentBytesOf(blockFiles)).toBe(0);
  });

  it('keeps no copy of a small file whose pages it handed the kernel: a READ that comes all the same reads its block file', async () => {
    const target = smalls[6]!;
    await unmountAll();
    await mountWithCache();
    await evictPages(blockFilesOfLength(target.data.length));
    const before = engineStats();
    const file = await open(join(mountpoint, target.name), 'r');
    try {
      const first = Buffer.alloc(1);
      await file.read(first, 0, 1, 0);
      const stored = engineStats();
      expect(stored.pageStores - before.pageStores).toBe(1);
      expect(stored.blockFileReads - before.blockFileReads).toBe(1);
      // The kernel's pages of the open file go too (dd's own open reads the block's header): its reads now come to the engine.
      await evictPages([join(mountpoint, target.name)], { writeBack: false });
      const evicted = engineStats();
      const whole = Buffer.alloc(target.data.length);
      const { bytesRead } = await file.read(whole, 0, whole.length, 0);
      expect(bytesRead).toBe(target.data.length);
      expect(whole.equals(target.data)).toBe(true);
      const after = engineStats();
      expect(after.readRequests - evicted.readRequests).toBeGreaterThan(0);
      expect(after.blockFileReads - evicted.blockFileReads).toBeGreaterThan(0);
      expect(after.cacheFallbacks).toBe(before.cacheFallbacks);
    } finally {
      await file.close();
    }
  });

  it('reads a small file\'s block file the kernel holds through the page cache, not from the disk again', async () => {
    const { before, after } = await catAllAfterRemount(() => {
      for (const path of smallBlockFiles()) readFileSync(path);
    });
    expectServedAlone(before, after, 0);
    expect(after.blockFileReads - before.blockFileReads).toBe(smalls.length);
  });

  /** Mounts a file system of `type` at `dir` (made first). */
  type MountOn = (type: string, dir: string, options?: readonly string[]) => Promise<void>;
  /** Copies the tree under `from` into `to` (made first), modes and times kept. */
  const copyTree = async (from: string, to: string): Promise<void> => {
    mkdirSync(to, { recursive: true });
    const result = await run('cp', ['-a', `${from}/.`, to]);
    expect(result.code, result.stderr).toBe(0);
  };
  /**
   * Mounts with a copy of the cache dir at `<root>/cache`, on the file systems `mountOver` mounts under `root`,
   * drops the block files' pages and reads every small file. The file systems are unmounted and the usual cache
   * dir is mounted again afterwards, even when something failed.
   */
  const catAllFromCacheDirOn = async (mountOver: (root: string, usual: string, mountOn: MountOn) => Promise<void>): Promise<{ before: RealCacheStats; after: RealCacheStats }> => {
    const usual = cacheDir;
    const root = mkdtempSync(join(tmpdir(), 'bucketfs-cache-dir-on-'));
    const mounted: string[] = [];
    const mountOn: MountOn = async (type, dir, options = []) => {
      mkdirSync(dir, { recursive: true });
      const result = await run('mount', ['-t', type, ...options, type, dir]);
      expect(result.code, result.stderr).toBe(0);
      mounted.unshift(dir);
    };
    await unmountAll();
    try {
      await mountOver(root, usual, mountOn);
      cacheDir = join(root, 'cache');
      await mountWithCache();
      await evictPages(smallBlockFiles());
      const before = engineStats();
      await catAll();
      return { before, after: engineStats() };
    } finally {
      try {
        await unmountAll();
      } finally {
        cacheDir = usual;
        for (const dir of mounted) if ((await run('umount', [dir])).code !== 0) await run('umount', ['-l', dir]);
        rmSync(root, { recursive: true, force: true });
      }
      await mountWithCache();
    }
  };

  it('serves small files from a cache dir on a tmpfs, whose files are all in memory: read through the page cache', async () => {
    const { before, after } = await catAllFromCacheDirOn(async (root, usual, mountOn) => {
      await mountOn('tmpfs', join(root, 'cache'));
      await copyTree(usual, join(root, 'cache'));
    });
    expectServedAlone(before, after, 0);
  });

  it('serves small files from a cache dir on an overlay, whose pages cachestat cannot see, through the page cache: its layer below refuses O_DIRECT', async () => {
    const { before, after } = await catAllFromCacheDirOn(async (root, usual, mountOn) => {
      // The block files on a ramfs, which has no direct I/O; what the mount writes goes to a tmpfs above it.
      await mountOn('ramfs', join(root, 'lower'));
      await copyTree(usual, join(root, 'lower'));
      await mountOn('tmpfs', join(root, 'upper'));
      mkdirSync(join(root, 'upper/data'));
      mkdirSync(join(root, 'upper/work'));
      await mountOn('overlay', join(root, 'cache'), ['-o', `lowerdir=${join(root, 'lower')},upperdir=${join(root, 'upper/data')},workdir=${join(root, 'upper/work')}`]);
    });
    expectServedAlone(before, after, 0);
  });

  it('calls JS once per small file the engine opened alone: its open, reads and release reported together', async () => {
    await unmountAll();
    await mountWithCache();
    const before = engineStats();
    const reportedBefore = { ...reported };
    await catAll();
    await waitUntil(() => reported.release - reportedBefore.release >= smalls.length, 10_000, 'every release to be reported');
    expect(engineStats().opensServed - before.opensServed).toBe(smalls.length);
    expect(engineStats().cacheReportCalls - before.cacheReportCalls).toBeLessThanOrEqual(smalls.length);
    expect(reported.open - reportedBefore.open).toBe(smalls.length);
    expect(reported.read - reportedBefore.read).toBeGreaterThanOrEqual(smalls.length);
  });

  it('serves small files listed first (a training loader\'s walk) from their whole blocks: no lookup or open reaches the core', async () => {
    await unmountAll();
    await mountWithCache();
    const listing = await run('ls', ['-l', mountpoint]);
    expect(listing.code, listing.stderr).toBe(0);
    const before = { ...coreCalls };
    const engineBefore = engineStats();
    await catAll();
    // The listing's entries came with their offers: the kernel neither looked the files up nor opened them through the core.
    expect(coreCalls.lookupChild - before.lookupChild).toBe(0);
    expect(coreCalls.openByIno - before.openByIno).toBe(0);
    expect(coreCalls.read - before.read).toBe(0);
    expect(engineStats().opensServed - engineBefore.opensServed).toBe(smalls.length);
  });

  it('opens a file the cache lacks through the core with no block for the engine, which then never reports it lacking one', async () => {
    const fresh = { name: 'not-cached-yet.bin', data: randomBytes(90 * KiB) };
    bucket.set(fresh.name, fresh.data);
    try {
      const before = { ...coreCalls };
      const result = await run('sha256sum', [join(mountpoint, fresh.name)]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.split(' ')[0]).toBe(sha256(fresh.data));
      expect(coreCalls.openByIno - before.openByIno).toBe(1);
      // Its block had no file: the open's answer named none, so the engine had no block to find lacking.
      expect(coreCalls.engineLacksBlock - before.engineLacksBlock).toBe(0);
      // The read fetched it, and its block was written behind: the next mount serves it from the cache.
      await diskCache!.settled();
      expect(blockFilesOfLength(fresh.data.length)).toHaveLength(1);
    } finally {
      await bucket.delete(fresh.name);
    }
  });

  it('opens a file for writing through the core, never from its block', async () => {
    const target = smalls[5]!;
    await unmountAll();
    await mountWithCache();
    await catAll();
    const before = { ...coreCalls };
    // Read-only (the mount takes no writes): the core refuses the open for writing, and refuses it itself.
    const result = await run('sh', ['-c', `exec 3>>'${join(mountpoint, target.name)}'`]);
    expect(result.code).not.toBe(0);
    expect(coreCalls.openByIno - before.openByIno).toBe(1);
  });

  it('after the metadata TTL, never serves a file changed on the server from the block of its old version', async () => {
    const changed = smalls[9]!;
    const ttlMs = 1_000;
    await unmountAll();
    await mountWithCache(ttlMs);
    const engineBefore = engineStats();
    const first = await run('sha256sum', [join(mountpoint, changed.name)]);
    // The metadata (and the offer) came with the first read's lookup: it runs out a TTL after that read at the latest.
    const offeredAt = Date.now();
    expect(first.stdout.split(' ')[0]).toBe(sha256(changed.data));
    expect(engineStats().opensServed - engineBefore.opensServed).toBe(1);
    const fresh = randomBytes(changed.data.length);
    bucket.set(changed.name, fresh);
    try {
      // Past the TTL the offer the lookup made is void: the open comes to the core, which asks the store again.
      await waitUntil(() => Date.now() > offeredAt + ttlMs, 5_000, 'the metadata TTL to run out');
      const before = { ...coreCalls };
      const again = await run('sha256sum', [join(mountpoint, changed.name)]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout.split(' ')[0]).toBe(sha256(fresh));
      expect(coreCalls.openByIno - before.openByIno).toBe(1);
    } finally {
      bucket.set(changed.name, changed.data);
    }
  });

  it('never serves a block file that names another object, even one whose own checksums hold', async () => {
    const [a, b] = blockFilesOfLength(twins[0]!.data.length);
    expect(a !== undefined && b !== undefined).toBe(true);
    // Each file now sits where the other object's block belongs: its header and data are whole, its key is not.
    renameSync(a!, `${a!}.swap`);
    renameSync(b!, a!);
    renameSync(`${a!}.swap`, b!);
    await unmountAll();
    await mountWithCache();
    const before = { ...coreCalls, ...diskCache!.stats() };
    await catTwins();
    expect(coreCalls.read - before.read).toBeGreaterThanOrEqual(twins.length);
    expect(diskCache!.stats().checksumFailures - before.checksumFailures).toBe(twins.length);
  });

  it('after a remount, serves an object changed on the server from the store, and drops the block of its old version then', async () => {
    const changed = smalls[3]!;
    const oldBlocks = blockFilesOfLength(changed.data.length);
    expect(oldBlocks).toHaveLength(1);
    const fresh = randomBytes(changed.data.length);
    bucket.set(changed.name, fresh);
    try {
      await unmountAll();
      await mountWithCache();
      const before = { ...coreCalls, ...diskCache!.stats() };
      const result = await run('sha256sum', [join(mountpoint, changed.name)]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.split(' ')[0]).toBe(sha256(fresh));
      // The new version is a new key: its block is missing, so the read came to the core and went to the store.
      expect(coreCalls.read - before.read).toBeGreaterThan(0);
      expect(diskCache!.stats().misses - before.misses).toBeGreaterThan(0);
      await diskCache!.settled();
      // The miss dropped the old version's block; the new one was written behind the read.
      const now = blockFilesOfLength(changed.data.length);
      expect(now).toHaveLength(1);
      expect(now).not.toContain(oldBlocks[0]);
    } finally {
      bucket.set(changed.name, changed.data);
    }
  });
});
