import { constants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import { createRangeReader } from '../../src/fs/read-path.js';
import { errnoOf, makeFilesystem, readAll } from './fixture.js';

function pattern(sizeBytes: number): Buffer {
  const data = Buffer.alloc(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 1) data[i] = (i * 31 + 7) % 251;
  return data;
}

describe('open and read', () => {
  it('reads whole files with odd chunk sizes', async () => {
    const { bucket, fs } = makeFilesystem();
    const data = pattern(100_003);
    bucket.set('blob', data);
    const { fh } = await fs.open('/blob', constants.O_RDONLY);
    for (const chunk of [1, 7, 4096, 65_537, 200_000]) {
      expect((await readAll(fs, fh, chunk)).equals(data)).toBe(true);
    }
    await fs.release(fh);
  });

  it('reads at odd offsets and across the end, 0 at and past the end without a request', async () => {
    const { bucket, fs } = makeFilesystem();
    const data = pattern(1000);
    bucket.set('f', data);
    const { fh } = await fs.open('/f', 0);
    const target = Buffer.alloc(64);
    expect(await fs.read(fh, target, 13, 333)).toBe(13);
    expect(target.subarray(0, 13).equals(data.subarray(333, 346))).toBe(true);
    expect(await fs.read(fh, target, 64, 990)).toBe(10);
    expect(target.subarray(0, 10).equals(data.subarray(990))).toBe(true);
    bucket.resetCalls();
    expect(await fs.read(fh, target, 64, 1000)).toBe(0);
    expect(await fs.read(fh, target, 64, 5000)).toBe(0);
    expect(bucket.calls.get).toBe(0);
    await fs.release(fh);
  });

  it('reads a 0-byte object as empty without a GET', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('empty', '');
    expect((await fs.getattr('/empty')).size).toBe(0);
    const { fh } = await fs.open('/empty', 0);
    expect(await fs.read(fh, Buffer.alloc(16), 16, 0)).toBe(0);
    expect(bucket.calls.get).toBe(0);
    await fs.release(fh);
  });

  it('fails a read with EIO when the object changed under the open file, and reads the new version after reopening', async () => {
    const { bucket, clock, fs } = makeFilesystem({ metadataTtlMs: 1_000, readerFactory: createRangeReader });
    bucket.set('v', 'version one');
    const first = await fs.open('/v', 0);
    const target = Buffer.alloc(32);
    expect(await fs.read(first.fh, target, 7, 0)).toBe(7);
    bucket.set('v', 'version two');
    expect(await errnoOf(fs.read(first.fh, target, 3, 8))).toBe(Errno.EIO);
    await fs.release(first.fh);
    clock.advance(1_000);
    const second = await fs.open('/v', 0);
    expect((await readAll(fs, second.fh)).toString()).toBe('version two');
    await fs.release(second.fh);
  });

  it('keeps serving the version it already fetched after the object changed', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('small', 'version one');
    const { fh } = await fs.open('/small', 0);
    const target = Buffer.alloc(32);
    expect(await fs.read(fh, target, 7, 0)).toBe(7);
    bucket.set('small', 'VERSION TWO');
    expect(await fs.read(fh, target, 3, 8)).toBe(3);
    expect(target.subarray(0, 3).toString()).toBe('one');
    await fs.release(fh);
  });

  it('fetches nothing ahead for a handle whose pages the kernel keeps, even when the engine holds no block of it', async () => {
    let fetchesAhead = 0;
    const { bucket, fs } = makeFilesystem({
      readerFactory: (client, snapshot) => Object.assign(createRangeReader(client, snapshot), { opened: () => void (fetchesAhead += 1) }),
    });
    bucket.set('k', 'aaaa');
    const first = await fs.open('/k', 0);
    fs.engineLacksBlock?.(first.fh);
    expect(fetchesAhead).toBe(2);
    await fs.release(first.fh);
    const second = await fs.open('/k', 0, { engineReadsBlocks: true });
    expect(second.keepCache).toBe(true);
    fs.engineLacksBlock?.(second.fh);
    expect(fetchesAhead).toBe(2);
    await fs.release(second.fh);
  });

  it('reads the version at open until the metadata TTL shows a change (keepCache follows the version)', async () => {
    const { bucket, clock, fs } = makeFilesystem({ metadataTtlMs: 1_000 });
    bucket.set('k', 'aaaa');
    const first = await fs.open('/k', 0);
    expect(first.keepCache).toBe(false);
    await fs.release(first.fh);
    const second = await fs.open('/k', 0);
    expect(second.keepCache).toBe(true);
    await fs.release(second.fh);
    bucket.set('k', 'bbbb');
    clock.advance(1_000);
    const third = await fs.open('/k', 0);
    expect(third.keepCache).toBe(false);
    expect((await readAll(fs, third.fh)).toString()).toBe('bbbb');
    await fs.release(third.fh);
  });

  it('uses the attributes a listing cached: open after readdir makes no HEAD', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/x', 'listed');
    await fs.readdir('/');
    await fs.readdir('/d');
    bucket.resetCalls();
    const { fh } = await fs.open('/d/x', 0);
    expect((await readAll(fs, fh)).toString()).toBe('listed');
    expect(bucket.calls.head).toBe(0);
    await fs.release(fh);
  });

  it('refuses opens for writing, directories, unknown handles', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/f', 'x');
    expect(await errnoOf(fs.open('/d/f', constants.O_WRONLY))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.open('/d/f', constants.O_RDWR))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.open('/d/f', constants.O_TRUNC))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.open('/d', 0))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.open('/nope', 0))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.read(4242, Buffer.alloc(1), 1, 0))).toBe(Errno.EBADF);
    const withDelete = makeFilesystem({ allowDelete: true });
    withDelete.bucket.set('f', 'x');
    expect(await errnoOf(withDelete.fs.open('/f', constants.O_WRONLY))).toBe(Errno.EPERM);
  });

  it('keeps handles independent and refuses reads after release', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('a', 'AAAA');
    bucket.set('b', 'BBBB');
    const a = await fs.open('/a', 0);
    const b = await fs.open('/b', 0);
    expect(a.fh).not.toBe(b.fh);
    expect((await readAll(fs, b.fh)).toString()).toBe('BBBB');
    expect((await readAll(fs, a.fh)).toString()).toBe('AAAA');
    await fs.release(a.fh);
    expect(await errnoOf(fs.read(a.fh, Buffer.alloc(4), 4, 0))).toBe(Errno.EBADF);
    await fs.release(b.fh);
  });
});
