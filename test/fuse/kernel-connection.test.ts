import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type FuseType from 'fuse-native';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntilKernelAnswers } from '../../src/fuse/kernel-connection.js';
import { findMountDevice } from '../../src/fuse/mountinfo.js';
import { readAheadPath, setMountReadAheadKb } from '../../src/fuse/readahead.js';
import { cleanupMounts, makeMountpoint } from '../helpers/mount.js';

const Fuse = createRequire(import.meta.url)('fuse-native') as typeof FuseType;
const logger = pino({ level: 'silent' });
const isRoot = process.getuid?.() === 0;

/**
 * A bare libfuse 2 mount whose init callback waits for `duringHandshake`: the window in which both engines
 * have already reported the mount but the kernel has not yet taken the INIT reply.
 */
async function mountWithSlowHandshake(mountpoint: string, duringHandshake: () => Promise<void>): Promise<{ unmount: () => Promise<void>; handshakeDone: Promise<void> }> {
  let markDone = (): void => {};
  const handshakeDone = new Promise<void>((resolve) => (markDone = resolve));
  const now = new Date();
  const fuse = new Fuse(mountpoint, {
    init: (cb) => void duringHandshake().finally(() => {
      cb(0);
      markDone();
    }),
    getattr: (_path, cb) => cb(0, { mode: 0o40755, uid: 0, gid: 0, size: 0, nlink: 2, ino: 1, atime: now, mtime: now, ctime: now }),
  });
  await new Promise<void>((resolve, reject) => fuse.mount((error) => (error ? reject(error) : resolve())));
  return { unmount: () => new Promise<void>((resolve) => fuse.unmount(() => resolve())), handshakeDone };
}

async function readAheadKbOf(mountpoint: string): Promise<string> {
  const device = await findMountDevice(mountpoint);
  return (await readFile(readAheadPath(device!), 'utf8')).trim();
}

describe('the FUSE handshake and the read-ahead', () => {
  afterEach(() => cleanupMounts());

  it('loses a read-ahead written before the kernel takes the INIT reply, keeps one written after the kernel answers', async () => {
    const mountpoint = makeMountpoint('handshake');
    let setDuringHandshake: boolean | undefined;
    const mount = await mountWithSlowHandshake(mountpoint, async () => {
      setDuringHandshake = await setMountReadAheadKb(mountpoint, 1024, logger);
    });
    try {
      await mount.handshakeDone;
      expect(setDuringHandshake).toBe(isRoot);
      expect(await waitUntilKernelAnswers(mountpoint, 10_000)).toBe(true);
      if (!isRoot) {
        // Only root may write sysfs: the kernel's default stays.
        expect(await setMountReadAheadKb(mountpoint, 1024, logger)).toBe(false);
        return;
      }
      // The INIT reply (libfuse 2 answers the 128 KiB the kernel offered) cut the early write back.
      expect(await readAheadKbOf(mountpoint)).toBe('128');
      expect(await setMountReadAheadKb(mountpoint, 1024, logger)).toBe(true);
      expect(await readAheadKbOf(mountpoint)).toBe('1024');
    } finally {
      await mount.unmount();
    }
  });

  it('says no within the timeout when nothing is mounted at the path', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'bucketfs-unmounted-'));
    try {
      const started = Date.now();
      expect(await waitUntilKernelAnswers(folder, 300)).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
