import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_CHUNK_BYTES } from '../../src/fs/append-stream.js';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { WORK_FOLDER } from '../../src/server/work-files.js';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket } from '../../src/store/bucket-client.js';
import type { AppendHandle } from '../../src/store/object-store.js';
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

  /** The store's calls, counted, on their way to the real client. */
  const counted = () => {
    const bucket = bindBucket(store, { name: 'b' }, staticParams(server.url));
    const calls = { putFrom: 0, append: 0, flushAppend: 0 };
    const client: typeof bucket = {
      ...bucket,
      putFrom: (key, source, options) => ((calls.putFrom += 1), bucket.putFrom(key, source, options)),
      append: (key, handle: AppendHandle | undefined, chunk, options) => ((calls.append += 1), bucket.append(key, handle, chunk, options)),
      flushAppend: (key, handle, options) => ((calls.flushAppend += 1), bucket.flushAppend(key, handle, options)),
    };
    return { client, calls };
  };

  const writable = async () => {
    const { client, calls } = counted();
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
  const untilStreamed = async (bytes: number): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while ((await workBytes()).reduce((a, b) => a + b, 0) < bytes) {
      if (Date.now() > deadline) throw new Error(`the work files never reached ${bytes} bytes: ${JSON.stringify(await workBytes())}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

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
});
