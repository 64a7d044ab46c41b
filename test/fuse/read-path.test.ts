import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import type { InodeFilesystem, PathFilesystem } from '../../src/fs/types.js';
import { MOUNT_ENGINES, mountFilesystem, type MountHandle } from '../../src/fuse/mount.js';
import { findMountDevice } from '../../src/fuse/mountinfo.js';
import { readAheadPath } from '../../src/fuse/readahead.js';
import { createAistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket, type BucketClient } from '../../src/store/bucket-client.js';
import type { ByteRange } from '../../src/store/object-store.js';
import { cleanupMounts, makeMountpoint } from '../helpers/mount.js';
import { run } from '../helpers/processes.js';
import { useServer } from '../helpers/server.js';
import { forwardedWriteOps } from '../helpers/write-ops.js';

/*
 * The read path through the kernel, mounted in-process over a real local server: a 64 MiB file is
 * read by `cmp` (a child process: a request from this process to its own mount could hang it) and
 * read again from the page cache; the mount's bdi read-ahead is raised.
 *
 * A re-read may still ask for a few pages: the kernel can reclaim clean page-cache pages at any time, without
 * memory pressure (this machine kind runs DAMON proactive reclaim, seen evicting pages of these very files
 * between the two reads). So the re-reads assert that the cache was kept, not that no page was ever lost.
 */
const MiB = 1024 * 1024;
const big = randomBytes(64 * MiB);
const small = randomBytes(300 * 1024);
const server = useServer({ 'data/big.bin': big, 'data/small.bin': small });

for (const engine of MOUNT_ENGINES) {
  describe(`the read path through the kernel (${engine})`, () => {
    const logger = pino({ level: 'silent' });
    const store = createAistoreClient({ logger });
    const gets: { key: string; range: ByteRange | undefined }[] = [];
    let kernelReadBytes = 0;
    let handle: MountHandle | undefined;
    let mountpoint = '';
    let filesystem: ReturnType<typeof createBucketFilesystem> | undefined;

    beforeAll(async () => {
      const bound = bindBucket(store, { name: 'data' }, staticParams(server.url));
      const client: BucketClient = {
        ...bound,
        get: (key, range, options) => {
          gets.push({ key, range });
          return bound.get(key, range, options);
        },
      };
      filesystem = createBucketFilesystem({ client, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger });
      const inner = filesystem;
      const counting: PathFilesystem & InodeFilesystem = {
        lookupChild: (parentIno, name) => inner.lookupChild(parentIno, name),
        attrByIno: (ino) => inner.attrByIno(ino),
        forget: (ino, count) => inner.forget(ino, count),
        holdIno: (ino) => inner.holdIno(ino),
        settleIno: (ino, count) => inner.settleIno(ino, count),
        openDirByIno: (ino) => inner.openDirByIno(ino),
        openDir: (path) => inner.openDir(path),
        openByIno: (ino, flags) => inner.openByIno(ino, flags),
        unlinkChild: (parentIno, name) => inner.unlinkChild(parentIno, name),
        getattr: (path) => inner.getattr(path),
        readdir: (path) => inner.readdir(path),
        open: (path, flags) => inner.open(path, flags),
        read: (fh, target, length, position) => {
          kernelReadBytes += length;
          return inner.read(fh, target, length, position);
        },
        release: (fh) => inner.release(fh),
        unlink: (path) => inner.unlink(path),
        statfs: (path) => inner.statfs(path),
        refuseWrite: (op, path) => inner.refuseWrite(op, path),
        ...forwardedWriteOps(inner),
        close: () => inner.close(),
      };
      mountpoint = makeMountpoint(`read-path-${engine}`);
      handle = await mountFilesystem(counting, mountpoint, { fsname: 'bucketfs#data', metadataTtlMs: 60_000, logger, readAheadKb: 1024, engine });
    });

    afterAll(async () => {
      await handle?.unmount().catch(() => {});
      cleanupMounts();
      await store.close();
    });

    it('reads a 64 MiB file byte for byte, then again from the page cache', async () => {
      const source = join(server.dataDir, 'data', 'big.bin');
      const first = await run('cmp', [source, join(mountpoint, 'big.bin')], { timeoutMs: 120_000 });
      expect(first.code, first.stderr + first.stdout).toBe(0);
      const fetched = gets.filter((get) => get.key === 'big.bin');
      expect(fetched.length).toBeGreaterThan(0);
      // Prefetch runs ahead in parts: far fewer GETs than 128 KiB kernel requests.
      expect(fetched.length).toBeLessThan((64 * MiB) / (1 * MiB));
      const stats = filesystem!.readStats();
      expect(stats.bytesFetched).toBeGreaterThanOrEqual(64 * MiB);
      expect(stats.prefetchedBytes).toBeGreaterThan(32 * MiB);
      gets.length = 0;
      const askedBefore = kernelReadBytes;
      const second = await run('cmp', [source, join(mountpoint, 'big.bin')], { timeoutMs: 120_000 });
      expect(second.code, second.stderr + second.stdout).toBe(0);
      // A page cache dropped at open would be asked for whole.
      const askedAgain = kernelReadBytes - askedBefore;
      expect(askedAgain).toBeLessThan(big.length / 16);
      // Every GET of the re-read fetches pages the kernel lost.
      expect(gets.length === 0 || askedAgain > 0, JSON.stringify(gets)).toBe(true);
    }, 180_000);

    it('keeps the page cache of an unchanged file between opens: a second read asks the mount for a few lost pages at most', async () => {
      const path = join(mountpoint, 'small.bin');
      const first = await run('cat', [path]);
      expect(first.code).toBe(0);
      expect(first.stdout.length).toBeGreaterThan(0);
      const askedBefore = kernelReadBytes;
      const getsBefore = gets.length;
      const second = await run('sha256sum', [path]);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout.split(' ')[0]).toBe(createHash('sha256').update(small).digest('hex'));
      const askedAgain = kernelReadBytes - askedBefore;
      expect(askedAgain).toBeLessThan(small.length / 4);
      expect(gets.length === getsBefore || askedAgain > 0, JSON.stringify(gets.slice(getsBefore))).toBe(true);
    });

    it('raises the mount bdi read_ahead_kb', async () => {
      if (process.getuid?.() !== 0) {
        // Only root may write sysfs: the kernel default must stay, untouched.
        expect(await findMountDevice(mountpoint)).toMatch(/^\d+:\d+$/);
        return;
      }
      const device = await findMountDevice(mountpoint);
      expect(device).toMatch(/^0:\d+$/);
      expect((await readFile(readAheadPath(device!), 'utf8')).trim()).toBe('1024');
    });
  });
}
