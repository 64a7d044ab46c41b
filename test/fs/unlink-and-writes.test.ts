import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import { createRangeReader } from '../../src/fs/read-path.js';
import { errnoOf, makeFilesystem, readAll } from './fixture.js';

const refusedOps = ['mkdir', 'rmdir', 'create', 'write', 'rename', 'truncate', 'chmod', 'chown', 'utimens', 'symlink', 'link'] as const;

describe('unlink', () => {
  it('is EPERM without allowDelete and leaves the object', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: false });
    bucket.set('keep', 'x');
    expect(await errnoOf(fs.unlink('/keep'))).toBe(Errno.EPERM);
    expect(bucket.has('keep')).toBe(true);
    expect(bucket.calls.delete).toBe(0);
  });

  it('deletes with allowDelete; the file is gone at once, and so is its implied folder', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: true });
    bucket.set('dir/only', 'x');
    expect((await fs.readdir('/dir')).map((entry) => entry.name)).toEqual(['only']);
    await fs.unlink('/dir/only');
    expect(bucket.has('dir/only')).toBe(false);
    expect(await errnoOf(fs.getattr('/dir/only'))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.getattr('/dir'))).toBe(Errno.ENOENT);
    expect(await fs.readdir('/')).toEqual([]);
  });

  it('is EISDIR for a directory and ENOENT for nothing', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: true });
    bucket.set('d/f', 'x');
    expect(await errnoOf(fs.unlink('/d'))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.unlink('/'))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.unlink('/none'))).toBe(Errno.ENOENT);
    expect(bucket.calls.delete).toBe(0);
  });

  it('keeps an open file readable until release', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: true });
    const data = Buffer.from('still readable after unlink '.repeat(100));
    bucket.set('open', data);
    const one = await fs.open('/open', 0);
    const two = await fs.open('/open', 0);
    const head = Buffer.alloc(5);
    expect(await fs.read(one.fh, head, 5, 0)).toBe(5);
    await fs.unlink('/open');
    expect(bucket.has('open')).toBe(false);
    expect(bucket.calls.get).toBe(2);
    expect((await readAll(fs, one.fh, 333)).equals(data)).toBe(true);
    expect((await readAll(fs, two.fh)).equals(data)).toBe(true);
    await fs.release(one.fh);
    await fs.release(two.fh);
  });

  it('fails later reads with EIO when an open unlinked file was too big to keep', async () => {
    // A reader that keeps no bytes of its own (a block cache could still hold a small object's).
    const { bucket, fs, log } = makeFilesystem({ allowDelete: true, unlinkPinMaxBytes: 10, readerFactory: createRangeReader });
    bucket.set('big', 'more than ten bytes');
    const { fh } = await fs.open('/big', 0);
    await fs.unlink('/big');
    expect(await errnoOf(fs.read(fh, Buffer.alloc(4), 4, 0))).toBe(Errno.EIO);
    expect(log.records().some((line) => line.level === 40 && line.path === '/big')).toBe(true);
    await fs.release(fh);
  });

  it('reports a failed DELETE and forgets what it cached', async () => {
    const { bucket, fs } = makeFilesystem({ allowDelete: true });
    bucket.set('f', 'x');
    await fs.getattr('/f');
    bucket.failWith('delete', () => new Error('boom'));
    expect(await errnoOf(fs.unlink('/f'))).toBe(Errno.EIO);
    bucket.clearFailures();
    bucket.resetCalls();
    expect((await fs.getattr('/f')).kind).toBe('file');
    expect(bucket.calls.head).toBe(1);
  });
});

describe('refuseWrite on a core without writes (--read-only)', () => {
  it.each(refusedOps)('%s is EROFS on a read-only mount', async (op) => {
    const { fs } = makeFilesystem({ allowDelete: false });
    expect(await errnoOf(fs.refuseWrite(op, '/x'))).toBe(Errno.EROFS);
  });

  it.each(refusedOps)('%s is EPERM with allowDelete', async (op) => {
    const { fs } = makeFilesystem({ allowDelete: true });
    expect(await errnoOf(fs.refuseWrite(op, '/x'))).toBe(Errno.EPERM);
  });
});

describe('statfs', () => {
  it('answers a large capacity and nameMax 255 without a request', async () => {
    const { bucket, fs } = makeFilesystem();
    const info = await fs.statfs('/');
    expect(info.nameMax).toBe(255);
    expect(info.blocksAvailable).toBeGreaterThan(1_000_000);
    expect(info.blocks).toBeLessThan(2 ** 32);
    expect(bucket.totalCalls).toBe(0);
  });
});
