import { constants as fsConstants, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Errno, FsError } from '../../src/fs/errno.js';
import { makeWritableFilesystem } from './fixture.js';

/*
 * The core's side of an engine that writes a new file into its staging file itself: the room it sets aside in
 * the staging bound, the reports it applies, and a failed write reported again at flush.
 */
const CREATE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC;
const MiB = 1024 * 1024;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const writable = async (maxStagingBytes?: number) => {
  const made = await makeWritableFilesystem({}, maxStagingBytes === undefined ? {} : { maxStagingBytes });
  cleanups.push(made.remove);
  cleanups.push(() => made.fs.close());
  return made;
};

const errnoOf = async (promise: Promise<unknown>): Promise<number | undefined> => {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof FsError ? error.errno : undefined;
  }
};

describe('a new file an engine writes itself', () => {
  it('hands the engine its staging file and room only when asked, and the room counts against the bound but not as staged bytes', async () => {
    const { fs, staging } = await writable(32 * MiB);
    const plain = await fs.create('/plain', 0o644, CREATE);
    expect(plain.staged).toBeUndefined();
    const { fh, staged } = await fs.create('/big', 0o644, CREATE, { engineWritesStaged: true });
    expect(staged).toBeDefined();
    expect(staged!.writableEnd).toBe(8 * MiB);
    expect(staging.stats().stagedBytes).toBe(0);
    // The engine writes 3 MiB itself; the core hears of it after.
    writeSync(staged!.fd, Buffer.alloc(3 * MiB, 7), 0, 3 * MiB, 0);
    fs.engineWrote!(fh, 0, 3 * MiB, 0);
    expect((await fs.getattr('/big')).size).toBe(3 * MiB);
    expect(staging.stats().stagedBytes).toBe(3 * MiB);
    expect(fs.engineWritableEnd!(fh)).toBe(11 * MiB);
    // 11 MiB of the 32 are held: another file may take the rest and no more.
    expect(await fs.write(plain.fh, Buffer.alloc(21 * MiB), 0)).toBe(21 * MiB);
    expect(await errnoOf(fs.write(plain.fh, Buffer.alloc(1), 21 * MiB))).toBe(Errno.ENOSPC);
    expect(fs.engineWritableEnd!(plain.fh)).toBeUndefined();
    await fs.flush(fh);
    await fs.release(fh);
    await fs.release(plain.fh);
    expect(staging.stats().stagedBytes).toBe(0);
  });

  it('never lets the room of open files take the whole bound from a writer with bytes to stage', async () => {
    const { fs } = await writable(32 * MiB);
    const opened = [];
    for (let i = 0; i < 8; i += 1) opened.push(await fs.create(`/empty-${i}`, 0o644, CREATE, { engineWritesStaged: true }));
    const plain = await fs.create('/plain', 0o644, CREATE);
    expect(await fs.write(plain.fh, Buffer.alloc(2 * MiB), 0)).toBe(2 * MiB);
    for (const { fh } of [...opened, plain]) await fs.release(fh);
  });

  it('uploads the bytes the engine wrote, and reports its failed write at the next flush only, after the upload', async () => {
    const { fs, bucket } = await writable();
    const { fh, staged } = await fs.create('/part', 0o644, CREATE, { engineWritesStaged: true });
    writeSync(staged!.fd, Buffer.from('acknowledged'), 0, 12, 0);
    fs.engineWrote!(fh, 0, 12, 0);
    fs.engineWrote!(fh, 12, 0, Errno.ENOSPC);
    expect(await errnoOf(fs.flush(fh))).toBe(Errno.ENOSPC);
    expect(bucket.data('part')?.toString()).toBe('acknowledged');
    expect(await errnoOf(fs.flush(fh))).toBeUndefined();
    await fs.release(fh);
  });

  it('applies an engine write over bytes it wrote before: the object holds the later bytes', async () => {
    const { fs, bucket } = await writable();
    const { fh, staged } = await fs.create('/rewritten', 0o644, CREATE, { engineWritesStaged: true });
    const first = Buffer.alloc(4 * MiB, 1);
    writeSync(staged!.fd, first, 0, first.length, 0);
    fs.engineWrote!(fh, 0, first.length, 0);
    writeSync(staged!.fd, Buffer.from('XY'), 0, 2, 10);
    fs.engineWrote!(fh, 10, 2, 0);
    await fs.flush(fh);
    const expected = Buffer.from(first);
    expected.write('XY', 10);
    const landed = bucket.data('rewritten');
    expect(landed?.length).toBe(expected.length);
    expect(landed?.equals(expected)).toBe(true);
    await fs.release(fh);
  });
});
