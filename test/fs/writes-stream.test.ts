import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_CHUNK_BYTES } from '../../src/fs/append-stream.js';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { WORK_FOLDER } from '../../src/server/work-files.js';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket } from '../../src/store/bucket-client.js';
import type { AppendHandle } from '../../src/store/object-store.js';
import { waitUntil } from '../helpers/mount.js';
import { useServer } from '../helpers/server.js';
import { makeStaging } from './fixture.js';

/*
 * A new file's bytes stream to the store while they are written (append, then flush at close): through the core,
 * against a real `bucketfs serve`, whose work folder shows what the appends sent before the object exists.
 */
const CREATE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC;
const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 50, timeoutMs: 20_000 } as const;
const PIECE_BYTES = 1024 * 1024;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a new file streamed while written', () => {
  const server = useServer({ 'b/old': 'there before' });
  let store: AistoreClient;
  beforeAll(() => {
    store = createAistoreClient({ retry: FAST_RETRY });
  });
  afterAll(async () => {
    await store?.close();
  });

  /** The store's calls, counted, on their way to the real client; each append waits for `gate` first. */
  const counted = (gate: () => Promise<void>) => {
    const bucket = bindBucket(store, { name: 'b' }, staticParams(server.url));
    const calls = { putFrom: 0, append: 0, flushAppend: 0 };
    const client: typeof bucket = {
      ...bucket,
      putFrom: (key, source, options) => ((calls.putFrom += 1), bucket.putFrom(key, source, options)),
      append: async (key, handle: AppendHandle | undefined, chunk, options) => {
        calls.append += 1;
        await gate();
        return bucket.append(key, handle, chunk, options);
      },
      flushAppend: (key, handle, options) => ((calls.flushAppend += 1), bucket.flushAppend(key, handle, options)),
    };
    return { client, calls };
  };

  const writable = async (gate: () => Promise<void> = async () => {}) => {
    const { client, calls } = counted(gate);
    const area = await makeStaging();
    cleanups.push(area.remove);
    const fs = createBucketFilesystem({ client, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: area.log.logger, writes: { staging: area.staging, allowOverwrite: true } });
    cleanups.push(() => fs.close());
    return { fs, calls, ...area };
  };

  /** Bytes of the work files `bucketfs serve` holds for appends not flushed yet. */
  const workBytes = async (): Promise<number[]> => {
    const folder = join(server.dataDir, 'b', WORK_FOLDER);
    const names = await readdir(folder).catch(() => [] as string[]);
    return Promise.all(names.map(async (name) => (await stat(join(folder, name))).size));
  };

  const objectBytes = (key: string): Promise<Buffer | undefined> => readFile(join(server.dataDir, 'b', key)).catch(() => undefined);

  const writeRange = async (fs: Awaited<ReturnType<typeof writable>>['fs'], fh: number, data: Buffer, from: number, to: number): Promise<void> => {
    for (let offset = from; offset < to; offset += PIECE_BYTES) await fs.write(fh, data.subarray(offset, Math.min(to, offset + PIECE_BYTES)), offset);
  };

  /** Waits until the server's work files hold at least `bytes` (the appends are sent in the background). */
  const untilStreamed = (bytes: number): Promise<void> =>
    waitUntil(async () => (await workBytes()).reduce((a, b) => a + b, 0) >= bytes, 20_000, `work files of ${bytes} bytes`);

  it('sends whole chunks while the writer goes forward; the flush at close makes the object, byte for byte', async () => {
    const { fs, calls, staging } = await writable();
    const data = randomBytes(4 * STREAM_CHUNK_BYTES + 12_345);
    const { fh } = await fs.create('/big.bin', 0o644, CREATE);
    await writeRange(fs, fh, data, 0, 3 * STREAM_CHUNK_BYTES);
    await untilStreamed(2 * STREAM_CHUNK_BYTES);
    expect(await objectBytes('big.bin'), 'nothing is visible before close').toBeUndefined();
    await writeRange(fs, fh, data, 3 * STREAM_CHUNK_BYTES, data.length);
    await fs.flush(fh);
    expect((await objectBytes('big.bin'))?.equals(data)).toBe(true);
    await fs.release(fh);
    expect(calls).toEqual({ putFrom: 0, append: 5, flushAppend: 1 });
    expect(await workBytes()).toEqual([]);
    expect(staging.stats().stagedBytes).toBe(0);
  });

  it('sends a chunk that became whole while the last append was under way, with no write after it', async () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const { fs, calls } = await writable(() => opened);
    const data = randomBytes(2 * STREAM_CHUNK_BYTES);
    const { fh } = await fs.create('/paused.bin', 0o644, CREATE);
    await writeRange(fs, fh, data, 0, STREAM_CHUNK_BYTES);
    await waitUntil(() => calls.append === 1, 20_000, 'the first append');
    await writeRange(fs, fh, data, STREAM_CHUNK_BYTES, data.length);
    open();
    await untilStreamed(2 * STREAM_CHUNK_BYTES);
    expect(calls.append).toBe(2);
    await fs.release(fh);
    expect((await objectBytes('paused.bin'))?.equals(data)).toBe(true);
  });

  it('gives the stream up when the writer seeks back into what was sent: the whole file is PUT at close', async () => {
    const { fs, calls } = await writable();
    const data = randomBytes(3 * STREAM_CHUNK_BYTES + 777);
    const { fh } = await fs.create('/rewritten.bin', 0o644, CREATE);
    await writeRange(fs, fh, data, 0, 2 * STREAM_CHUNK_BYTES);
    await untilStreamed(STREAM_CHUNK_BYTES);
    const header = randomBytes(4096);
    header.copy(data, 100);
    await fs.write(fh, header, 100);
    await writeRange(fs, fh, data, 2 * STREAM_CHUNK_BYTES, data.length);
    await fs.flush(fh);
    await fs.release(fh);
    expect((await objectBytes('rewritten.bin'))?.equals(data)).toBe(true);
    expect(calls.putFrom).toBe(1);
    expect(calls.flushAppend).toBe(0);
  });

  it('gives the stream up at a truncate into what was sent', async () => {
    const { fs, calls } = await writable();
    const data = randomBytes(3 * STREAM_CHUNK_BYTES);
    const { fh } = await fs.create('/cut.bin', 0o644, CREATE);
    await writeRange(fs, fh, data, 0, data.length);
    await untilStreamed(2 * STREAM_CHUNK_BYTES);
    await fs.setattr('/cut.bin', { size: STREAM_CHUNK_BYTES / 2 }, fh);
    await fs.release(fh);
    expect((await objectBytes('cut.bin'))?.equals(data.subarray(0, STREAM_CHUNK_BYTES / 2))).toBe(true);
    expect(calls).toMatchObject({ putFrom: 1, flushAppend: 0 });
  });

  it('an fsync in the middle makes the bytes so far the object; what follows is PUT whole at close', async () => {
    const { fs, calls } = await writable();
    const data = randomBytes(4 * STREAM_CHUNK_BYTES + 99);
    const middle = 2 * STREAM_CHUNK_BYTES + 5000;
    const { fh } = await fs.create('/synced.bin', 0o644, CREATE);
    await writeRange(fs, fh, data, 0, middle);
    await fs.fsync(fh);
    expect((await objectBytes('synced.bin'))?.equals(data.subarray(0, middle))).toBe(true);
    expect(calls).toMatchObject({ putFrom: 0, flushAppend: 1 });
    await writeRange(fs, fh, data, middle, data.length);
    await fs.release(fh);
    expect((await objectBytes('synced.bin'))?.equals(data)).toBe(true);
    expect(calls).toMatchObject({ putFrom: 1, flushAppend: 1 });
  });

  it('keeps streaming after the close of a copy of the descriptor uploaded the file while still empty (as dd does)', async () => {
    const { fs, calls } = await writable();
    const data = randomBytes(2 * STREAM_CHUNK_BYTES + 10);
    const { fh } = await fs.create('/dd.bin', 0o644, CREATE);
    await fs.flush(fh);
    expect((await objectBytes('dd.bin'))?.length).toBe(0);
    await writeRange(fs, fh, data, 0, data.length);
    await fs.fsync(fh);
    await fs.release(fh);
    expect((await objectBytes('dd.bin'))?.equals(data)).toBe(true);
    expect(calls).toEqual({ putFrom: 1, append: 3, flushAppend: 1 });
  });

  it('falls back to a whole PUT when the flush is refused: an object made under the name meanwhile, which the appends started from', async () => {
    const { fs, calls } = await writable();
    const data = randomBytes(2 * STREAM_CHUNK_BYTES + 10);
    const { fh } = await fs.create('/raced.bin', 0o644, CREATE);
    await writeFile(join(server.dataDir, 'b', 'raced.bin'), 'made elsewhere first');
    await writeRange(fs, fh, data, 0, data.length);
    await fs.release(fh);
    expect((await objectBytes('raced.bin'))?.equals(data)).toBe(true);
    expect(calls).toMatchObject({ putFrom: 1, flushAppend: 1 });
  });

  it('a rename while streaming lands the file whole under its new name', async () => {
    const { fs, calls } = await writable();
    const data = randomBytes(2 * STREAM_CHUNK_BYTES + 10);
    const { fh } = await fs.create('/before.bin', 0o644, CREATE);
    await writeRange(fs, fh, data, 0, data.length);
    await untilStreamed(STREAM_CHUNK_BYTES);
    await fs.rename('/before.bin', '/after.bin', 0);
    await fs.release(fh);
    expect((await objectBytes('after.bin'))?.equals(data)).toBe(true);
    expect(await objectBytes('before.bin')).toBeUndefined();
    expect(calls).toMatchObject({ putFrom: 1, flushAppend: 0 });
  });

  it('a file smaller than a chunk is one PUT, as before', async () => {
    const { fs, calls } = await writable();
    const data = randomBytes(STREAM_CHUNK_BYTES - 1);
    const { fh } = await fs.create('/small.bin', 0o644, CREATE);
    await writeRange(fs, fh, data, 0, data.length);
    await fs.release(fh);
    expect((await objectBytes('small.bin'))?.equals(data)).toBe(true);
    expect(calls).toEqual({ putFrom: 1, append: 0, flushAppend: 0 });
  });
});

describe('a stream under server faults', () => {
  const server = useServer({ 'b/seed': 'x' }, { faults: { rate: 0.3, seed: 16 } });
  let store: AistoreClient;
  beforeAll(() => {
    store = createAistoreClient({ retry: FAST_RETRY });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('lands every file byte for byte, the appends retried or the whole file sent instead', async () => {
    const area = await makeStaging();
    cleanups.push(area.remove);
    const fs = createBucketFilesystem({ client: bindBucket(store, { name: 'b' }, staticParams(server.url)), metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: area.log.logger, writes: { staging: area.staging } });
    cleanups.push(() => fs.close());
    for (let index = 0; index < 3; index += 1) {
      const data = randomBytes(3 * STREAM_CHUNK_BYTES + index * 1000);
      const { fh } = await fs.create(`/f${index}.bin`, 0o644, CREATE);
      for (let offset = 0; offset < data.length; offset += PIECE_BYTES) await fs.write(fh, data.subarray(offset, offset + PIECE_BYTES), offset);
      await fs.flush(fh);
      await fs.release(fh);
      expect((await readFile(join(server.dataDir, 'b', `f${index}.bin`))).equals(data), `f${index}.bin`).toBe(true);
    }
  });
});
