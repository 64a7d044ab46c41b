import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Errno, FsError } from '../../src/fs/errno.js';
import type { FileAttr, PathFilesystem } from '../../src/fs/types.js';
import { createFuseOperations, type OperationOutcome } from '../../src/fuse/fuse-operations.js';
import { failingWriteOps } from '../helpers/write-ops.js';

/* The adapter tells its observer about every answered kernel request: op, errno, duration, bytes. */
const fileAttr: FileAttr = { ino: 7, kind: 'file', size: 10, mtimeMs: 1_700_000_000_000, mode: 0o100444, uid: 1, gid: 2, nlink: 1 };

const filesystem: PathFilesystem = {
  getattr: async (path) => {
    if (path === '/missing') throw new FsError(Errno.ENOENT, 'no such object');
    return fileAttr;
  },
  readdir: async () => [],
  openDir: async () => ({ kernelMayKeep: false, read: async () => [], close: () => {} }),
  open: async () => ({ fh: 3, keepCache: false }),
  read: async (_fh, buffer, length) => {
    buffer.fill(1, 0, Math.min(length, 10));
    return Math.min(length, 10);
  },
  release: async () => {},
  unlink: async () => {
    throw new Error('store exploded');
  },
  statfs: async () => {
    throw new FsError(Errno.EIO, 'x');
  },
  ...failingWriteOps(async () => {
    throw new FsError(Errno.EROFS, 'read-only fake');
  }),
  refuseWrite: async (op, path) => {
    throw new FsError(Errno.EROFS, `${op} ${path}`);
  },
  close: async () => {},
};

const callOnce = (invoke: (cb: (...args: unknown[]) => void) => void): Promise<unknown[]> =>
  new Promise((resolve) => invoke((...args) => resolve(args)));

describe('operation observer of the FUSE adapter', () => {
  it('reports each request once with its errno, a duration and the bytes a read returned', async () => {
    const outcomes: OperationOutcome[] = [];
    const ops = createFuseOperations(filesystem, pino({ level: 'silent' }), { operationDone: (outcome) => void outcomes.push(outcome) });
    await callOnce((cb) => ops.getattr?.('/file', cb));
    await callOnce((cb) => ops.getattr?.('/missing', cb));
    await callOnce((cb) => ops.read?.('/file', 3, Buffer.alloc(4096), 4096, 0, cb));
    await callOnce((cb) => ops.unlink?.('/file', cb));
    await callOnce((cb) => ops.mkdir?.('/d', 0o755, cb));
    await callOnce((cb) => ops.access?.('/file', 2, cb));
    expect(outcomes.map(({ op, errno, bytes }) => ({ op, errno, bytes }))).toEqual([
      { op: 'getattr', errno: 0, bytes: 0 },
      { op: 'getattr', errno: Errno.ENOENT, bytes: 0 },
      { op: 'read', errno: 0, bytes: 10 },
      { op: 'unlink', errno: Errno.EIO, bytes: 0 },
      { op: 'mkdir', errno: Errno.EROFS, bytes: 0 },
      { op: 'access', errno: Errno.EACCES, bytes: 0 },
    ]);
    for (const outcome of outcomes) expect(outcome.durationSeconds).toBeGreaterThanOrEqual(0);
  });

  it('answers the kernel even when the observer throws', async () => {
    const ops = createFuseOperations(filesystem, pino({ level: 'silent' }), {
      operationDone: () => {
        throw new Error('metrics broke');
      },
    });
    expect(await callOnce((cb) => ops.read?.('/file', 3, Buffer.alloc(4), 4, 0, cb))).toEqual([4]);
  });
});
