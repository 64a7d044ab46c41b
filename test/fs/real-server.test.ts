import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { Errno } from '../../src/fs/errno.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket, type BucketClient } from '../../src/store/bucket-client.js';
import { listAll } from '../../src/store/object-store.js';
import { errnoOf, readAll } from './fixture.js';

/** Counts calls through a real client, to assert request counts end to end. */
function counting(client: BucketClient): { client: BucketClient; calls: Record<string, number> } {
  const calls = { head: 0, get: 0, listPage: 0, delete: 0 };
  const counted: BucketClient = {
    ...client,
    head: (key, options) => ((calls.head += 1), client.head(key, options)),
    get: (key, range, options) => ((calls.get += 1), client.get(key, range, options)),
    listPage: (request, options) => ((calls.listPage += 1), client.listPage(request, options)),
    list: (request, options) => listAll((page) => counted.listPage(page, options), request),
    delete: (key, options) => ((calls.delete += 1), client.delete(key, options)),
  };
  return { client: counted, calls };
}

describe('bucket filesystem against the local AIStore-compatible server', () => {
  let dataDir = '';
  let server: RunningServer | undefined;
  let store: AistoreClient | undefined;
  const big = Buffer.alloc(3 * 1024 * 1024 + 17).map((_, i) => (i * 29 + 3) % 256);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bucketfs-fs-real-'));
    const bucketDir = join(dataDir, 'b');
    mkdirSync(join(bucketDir, 'dir', 'nested'), { recursive: true });
    mkdirSync(join(bucketDir, 'many'), { recursive: true });
    mkdirSync(join(bucketDir, 'with space'), { recursive: true });
    writeFileSync(join(bucketDir, 'hello.txt'), 'hello world\n');
    writeFileSync(join(bucketDir, 'empty'), '');
    writeFileSync(join(bucketDir, 'dir', 'nested', 'big.bin'), big);
    writeFileSync(join(bucketDir, 'with space', 'ünïcødé 名前.txt'), 'unicode\n');
    writeFileSync(join(bucketDir, 'doomed'), 'delete me');
    for (let i = 0; i < 2500; i += 1) writeFileSync(join(bucketDir, 'many', `f${String(i).padStart(5, '0')}`), `n${i}`);
    server = await startServer({ dataDir, port: 0, redirect: true });
    store = createAistoreClient();
  });

  afterAll(async () => {
    await store?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function filesystem(allowDelete = false) {
    if (server === undefined || store === undefined) throw new Error('server not started');
    const { client, calls } = counting(bindBucket(store, { name: 'b' }, staticParams(server.url)));
    const fs = createBucketFilesystem({ client, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete, logger: pino({ level: 'silent' }) });
    return { fs, calls };
  }

  it('lists, stats and reads files, implied folders and 0-byte objects', async () => {
    const { fs } = filesystem();
    expect((await fs.readdir('/')).map((entry) => [entry.name, entry.attr.kind])).toEqual([
      ['dir', 'dir'],
      ['doomed', 'file'],
      ['empty', 'file'],
      ['hello.txt', 'file'],
      ['many', 'dir'],
      ['with space', 'dir'],
    ]);
    expect(await fs.getattr('/dir/nested')).toMatchObject({ kind: 'dir' });
    expect(await fs.getattr('/dir/nested/big.bin')).toMatchObject({ kind: 'file', size: big.length });
    expect((await fs.getattr('/hello.txt')).mtimeMs).toBeGreaterThan(Date.UTC(2020, 0, 1));
    const hello = await fs.open('/hello.txt', 0);
    expect((await readAll(fs, hello.fh)).toString()).toBe('hello world\n');
    await fs.release(hello.fh);
    const empty = await fs.open('/empty', 0);
    expect(await fs.read(empty.fh, Buffer.alloc(8), 8, 0)).toBe(0);
    await fs.release(empty.fh);
    expect(await errnoOf(fs.getattr('/nope'))).toBe(Errno.ENOENT);
  });

  it('stats and reads names with spaces and unicode', async () => {
    const { fs } = filesystem();
    expect((await fs.readdir('/with space')).map((entry) => entry.name)).toEqual(['ünïcødé 名前.txt']);
    expect(await fs.getattr('/with space/ünïcødé 名前.txt')).toMatchObject({ kind: 'file', size: 8 });
    const { fh } = await fs.open('/with space/ünïcødé 名前.txt', 0);
    expect((await readAll(fs, fh)).toString()).toBe('unicode\n');
    await fs.release(fh);
    const fresh = filesystem();
    expect(await fresh.fs.getattr('/with space/ünïcødé 名前.txt')).toMatchObject({ kind: 'file', size: 8 });
  });

  it('streams a large file with 128 KiB reads and reads odd offsets across the end', async () => {
    const { fs } = filesystem();
    const { fh } = await fs.open('/dir/nested/big.bin', 0);
    expect((await readAll(fs, fh, 128 * 1024)).equals(big)).toBe(true);
    const target = Buffer.alloc(1000);
    expect(await fs.read(fh, target, 1000, 12_345)).toBe(1000);
    expect(target.equals(big.subarray(12_345, 13_345))).toBe(true);
    expect(await fs.read(fh, target, 1000, big.length - 10)).toBe(10);
    expect(target.subarray(0, 10).equals(big.subarray(big.length - 10))).toBe(true);
    expect(await fs.read(fh, target, 1000, big.length)).toBe(0);
    await fs.release(fh);
  });

  it('fills the stat cache from a paginated listing: getattr of 2,500 entries makes no request', async () => {
    const { fs, calls } = filesystem();
    const entries = await fs.readdir('/many');
    expect(entries).toHaveLength(2500);
    const before = { ...calls };
    for (const entry of entries) expect((await fs.getattr(`/many/${entry.name}`)).size).toBe(entry.attr.size);
    expect(calls).toEqual(before);
  });

  it('deletes only with allowDelete', async () => {
    const readOnly = filesystem(false);
    expect(await errnoOf(readOnly.fs.unlink('/doomed'))).toBe(Errno.EPERM);
    expect(existsSync(join(dataDir, 'b', 'doomed'))).toBe(true);
    const writable = filesystem(true);
    await writable.fs.unlink('/doomed');
    expect(existsSync(join(dataDir, 'b', 'doomed'))).toBe(false);
    expect(await errnoOf(writable.fs.getattr('/doomed'))).toBe(Errno.ENOENT);
  });
});
