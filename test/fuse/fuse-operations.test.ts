import { constants as fsConstants } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Errno, FsError } from '../../src/fs/errno.js';
import type { FileAttr, PathFilesystem } from '../../src/fs/types.js';
import { accessErrno, createFuseOperations, statFromAttr } from '../../src/fuse/fuse-operations.js';
import { fuseNativeOptions } from '../../src/fuse/mount-options.js';
import { failingWriteOps } from '../helpers/write-ops.js';

const fileAttr: FileAttr = { ino: 7, kind: 'file', size: 1025, mtimeMs: 1_700_000_000_000, mode: 0o100444, uid: 1, gid: 2, nlink: 1 };

function failingFilesystem(failure: () => never): PathFilesystem {
  const fail = async (): Promise<never> => failure();
  return {
    getattr: fail,
    readdir: fail,
    openDir: fail,
    open: fail,
    read: fail,
    release: fail,
    unlink: fail,
    statfs: fail,
    ...failingWriteOps(fail),
    refuseWrite: async (op, path) => {
      throw new FsError(Errno.EROFS, `${op} ${path}`);
    },
    close: async () => {},
  };
}

const callOnce = (invoke: (cb: (...args: unknown[]) => void) => void): Promise<unknown[]> =>
  new Promise((resolve) => invoke((...args) => resolve(args)));

describe('fuse operations', () => {
  it('maps an attribute to a stat with 512-byte blocks and the mtime for every time', () => {
    const stat = statFromAttr(fileAttr);
    expect(stat).toMatchObject({ mode: 0o100444, uid: 1, gid: 2, size: 1025, nlink: 1, ino: 7, blocks: 3 });
    expect(stat.mtime).toEqual(new Date(fileAttr.mtimeMs));
    expect(stat.ctime).toEqual(stat.mtime);
  });

  it.each([
    [0o100444, 4, 0],
    [0o100444, 2, Errno.EACCES],
    [0o100444, 1, Errno.EACCES],
    [0o040555, 5, 0],
    [0o100444, 0, 0],
  ])('access of mode %o with mask %d → %d', (mode, mask, expected) => {
    expect(accessErrno({ ...fileAttr, mode }, mask)).toBe(expected);
  });

  it.each([
    ['the owner', 0o100640, 4, { uid: 1, gid: 9 }, 0],
    ['a group member', 0o100640, 4, { uid: 5, gid: 2 }, 0],
    ['a group member writing', 0o100640, 2, { uid: 5, gid: 2 }, Errno.EACCES],
    ['another user', 0o100640, 4, { uid: 5, gid: 9 }, Errno.EACCES],
    ['another user of a 0444 file', 0o100444, 4, { uid: 5, gid: 9 }, 0],
    ['root writing a 0400 file', 0o100400, 6, { uid: 0, gid: 0 }, 0],
    ['root executing a file without x bits', 0o100644, 1, { uid: 0, gid: 0 }, Errno.EACCES],
    ['root entering a 0700 folder', 0o040700, 1, { uid: 0, gid: 0 }, 0],
  ])('access for %s (mode %o, mask %d, caller %j) → %d', (_who, mode, mask, caller, expected) => {
    expect(accessErrno({ ...fileAttr, mode }, mask, caller)).toBe(expected);
  });

  it('answers the errno of an FsError, negated', async () => {
    const ops = createFuseOperations(failingFilesystem(() => { throw new FsError(Errno.ENOENT, 'gone'); }), pino({ level: 'silent' }));
    expect(await callOnce((cb) => ops.getattr?.('/x', cb))).toEqual([-Errno.ENOENT]);
  });

  it('answers EIO for an unknown failure, even one thrown synchronously', async () => {
    const throwing: PathFilesystem = {
      ...failingFilesystem(() => { throw new Error('x'); }),
      read: () => {
        throw new TypeError('thrown before any promise');
      },
    };
    const ops = createFuseOperations(throwing, pino({ level: 'silent' }));
    expect(await callOnce((cb) => ops.read?.('/x', 1, Buffer.alloc(4), 4, 0, cb))).toEqual([-Errno.EIO]);
    expect(await callOnce((cb) => ops.readdir?.('/', cb))).toEqual([-Errno.EIO]);
  });

  it('routes each write operation to the core with its arguments, and links and symlinks to refuseWrite', async () => {
    const calls: unknown[][] = [];
    const record = (name: string) => async (...args: unknown[]): Promise<never> => {
      calls.push([name, ...args.filter((arg) => !Buffer.isBuffer(arg))]);
      throw new FsError(Errno.EPERM, name);
    };
    const fs: PathFilesystem = {
      ...failingFilesystem(() => {
        throw new Error('x');
      }),
      create: record('create'),
      write: record('write'),
      flush: record('flush'),
      fsync: record('fsync'),
      mkdir: record('mkdir'),
      rmdir: record('rmdir'),
      rename: record('rename'),
      setattr: record('setattr'),
    };
    const ops = createFuseOperations(fs, pino({ level: 'silent' }));
    const answers = await Promise.all([
      callOnce((cb) => ops.write?.('/f', 1, Buffer.alloc(4), 2, 7, cb)),
      callOnce((cb) => ops.flush?.('/f', 1, cb)),
      callOnce((cb) => ops.fsync?.('/f', false, 1, cb)),
      callOnce((cb) => ops.create?.('/f', 0o644, cb)),
      callOnce((cb) => ops.mkdir?.('/d', 0o755, cb)),
      callOnce((cb) => ops.rmdir?.('/d', cb)),
      callOnce((cb) => ops.rename?.('/a', '/b', cb)),
      callOnce((cb) => ops.truncate?.('/f', 3, cb)),
      callOnce((cb) => ops.ftruncate?.('/f', 1, 0, cb)),
      callOnce((cb) => ops.chmod?.('/f', 0o600, cb)),
      callOnce((cb) => ops.chown?.('/f', 5, 6, cb)),
      callOnce((cb) => ops.utimens?.('/f', 1000, 2000, cb)),
    ]);
    expect(answers).toEqual(answers.map(() => [-Errno.EPERM]));
    expect(calls).toEqual([
      ['write', 1, 7],
      ['flush', 1],
      ['fsync', 1],
      ['create', '/f', 0o644, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_TRUNC],
      ['mkdir', '/d', 0o755],
      ['rmdir', '/d'],
      ['rename', '/a', '/b', 0],
      ['setattr', '/f', { size: 3 }],
      ['setattr', '/f', { size: 0 }, 1],
      ['setattr', '/f', { mode: 0o600 }],
      ['setattr', '/f', { uid: 5, gid: 6 }],
      ['setattr', '/f', { atimeMs: 1000, mtimeMs: 2000 }],
    ]);
    const refused = await Promise.all([callOnce((cb) => ops.symlink?.('/a', '/b', cb)), callOnce((cb) => ops.link?.('/a', '/b', cb))]);
    expect(refused).toEqual([[-Errno.EROFS], [-Errno.EROFS]]);
  });
});

describe('fuseNativeOptions', () => {
  it.each([
    [{ fsname: 'bucketfs#b', allowOther: false, metadataTtlMs: 60_000, operationTimeoutMs: 1000 }, { attrTimeout: 60, entryTimeout: 60, allowOther: false, fsname: 'bucketfs#b' }],
    [{ fsname: 'bucketfs#a,b', allowOther: true, metadataTtlMs: 0, operationTimeoutMs: 1000 }, { attrTimeout: 0.000001, allowOther: true, fsname: 'bucketfs#a_b' }],
  ])('%j', (input, expected) => {
    expect(fuseNativeOptions(input)).toMatchObject({ ...expected, subtype: 'bucketfs', autoCache: true, timeout: 1000 });
  });
});
