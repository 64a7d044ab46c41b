import { constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { Errno } from '../../src/fs/errno.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { startServer } from '../../src/server/server.js';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import { staticParams, type BaseParams, type BaseParamsSource } from '../../src/store/base-params.js';
import { bindBucket } from '../../src/store/bucket-client.js';
import { useServer, withTempDir } from '../helpers/server.js';
import { errnoOf, makeStaging } from './fixture.js';

const CREATE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC;
const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 50, timeoutMs: 20_000 } as const;

function pattern(sizeBytes: number, seed: number): Buffer {
  const data = Buffer.allocUnsafe(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 1) data[i] = (i * 31 + seed * 7 + (i >> 12)) & 0xff;
  return data;
}

/** The object as plain HTTP fetches it from the server. */
async function fetched(url: string, key: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const response = await fetch(`${url}/v1/objects/b/${key}`, { headers, redirect: 'follow' });
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function writableOver(client: ReturnType<typeof bindBucket>) {
  const area = await makeStaging();
  cleanups.push(area.remove);
  const fs = createBucketFilesystem({ client, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: area.log.logger, writes: { staging: area.staging } });
  cleanups.push(() => fs.close());
  return { fs, ...area };
}

/** Writes `data` through `fs` in 128 KiB pieces to a new file and returns its handle, not yet flushed. */
async function writeNew(fs: Awaited<ReturnType<typeof writableOver>>['fs'], path: string, data: Buffer): Promise<number> {
  const { fh } = await fs.create(path, 0o644, CREATE);
  for (let offset = 0; offset < data.length; offset += 128 * 1024) await fs.write(fh, data.subarray(offset, offset + 128 * 1024), offset);
  return fh;
}

describe.each([false, true])('uploads through the core to bucketfs serve (redirect %s)', (redirect) => {
  const server = useServer({ 'b/keep': 'k' }, { redirect });
  let store: AistoreClient;
  beforeAll(() => {
    store = createAistoreClient({ retry: FAST_RETRY });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('lands the staged bytes at close, byte for byte, listed at once', async () => {
    const { fs, staging } = await writableOver(bindBucket(store, { name: 'b' }, staticParams(server.url)));
    const data = pattern(5 * 1024 * 1024 + 3, 1);
    const fh = await writeNew(fs, '/out/model.ckpt', data);
    await fs.flush(fh);
    await fs.release(fh);
    expect((await fetched(server.url, 'out/model.ckpt')).equals(data)).toBe(true);
    expect((await fs.readdir('/out')).map((entry) => [entry.name, entry.attr.size])).toEqual([['model.ckpt', data.length]]);
    expect(staging.stats().stagedBytes).toBe(0);
  });

  it('renames with rename-obj', async () => {
    const { fs } = await writableOver(bindBucket(store, { name: 'b' }, staticParams(server.url)));
    const fh = await writeNew(fs, '/a.txt', Buffer.from('renamed bytes'));
    await fs.release(fh);
    await fs.rename('/a.txt', '/moved/b.txt', 0);
    expect((await fetched(server.url, 'moved/b.txt')).toString()).toBe('renamed bytes');
    expect(existsSync(join(server.dataDir, 'b', 'a.txt'))).toBe(false);
  });
});

describe('a server down past the upload deadline', () => {
  it('fails flush with EIO and keeps the staging file, whose path the log names', async () => {
    const data = await withTempDir('down');
    cleanups.push(data.remove);
    await mkdir(join(data.path, 'b'));
    const server = await startServer({ dataDir: data.path, host: '127.0.0.1', port: 0 });
    let serverUp = true;
    cleanups.push(() => (serverUp ? server.close() : undefined));
    const store = createAistoreClient({ retry: { baseDelayMs: 20, maxDelayMs: 100, timeoutMs: 1_500 } });
    cleanups.push(() => store.close());
    const { fs, staging, log } = await writableOver(bindBucket(store, { name: 'b' }, staticParams(server.url)));
    const bytes = pattern(300 * 1024, 2);
    const fh = await writeNew(fs, '/lost.bin', bytes);
    await server.close();
    serverUp = false;
    expect(await errnoOf(fs.flush(fh))).toBe(Errno.EIO);
    await fs.release(fh);
    const [kept] = staging.stats().keptFiles;
    expect(kept).toMatchObject({ key: 'lost.bin', sizeBytes: bytes.length });
    expect(readFileSync(kept!.path).equals(bytes)).toBe(true);
    expect(log.records().some((line) => line.level === 50 && line.staging === kept!.path)).toBe(true);
  });
});

describe('a token rotation during an upload', () => {
  const OLD_SECRET = 'old-secret-0123456789abcdef-0123456789ab';
  const NEW_SECRET = 'new-secret-0123456789abcdef-0123456789ab';
  let secretFile = '';
  const server = useServer({ 'b/keep': 'k' }, async (outsideDir) => {
    secretFile = join(outsideDir, 'secret');
    await writeFile(secretFile, OLD_SECRET);
    return { redirect: true, authSecretFile: secretFile, secretCheckIntervalMs: 0, previousSecretGraceMs: 0 };
  });

  it('is picked up: the refused upload reloads the token and sends the staging file again', async () => {
    const store = createAistoreClient({ retry: FAST_RETRY });
    cleanups.push(() => store.close());
    const token = async (secret: string): Promise<BaseParams> => ({
      endpoint: server.url,
      headers: { authorization: `Bearer ${await signToken(secretKeyFromText(secret), { ttlMs: 60_000, subject: 'writer' })}` },
    });
    let current = await token(OLD_SECRET);
    let reloads = 0;
    const source: BaseParamsSource = {
      current: async () => current,
      invalidate: () => {
        reloads += 1;
      },
    };
    const { fs } = await writableOver(bindBucket(store, { name: 'b' }, source));
    const data = pattern(2 * 1024 * 1024, 3);
    const fh = await writeNew(fs, '/ckpt/step-100.pt', data);
    // The cluster rotates its secret while the file is open; the token file (here: the source) follows.
    await writeFile(secretFile, NEW_SECRET);
    current = await token(NEW_SECRET);
    const stale = await token(OLD_SECRET);
    let handedStale = false;
    source.current = async () => {
      if (handedStale) return current;
      handedStale = true;
      return stale;
    };
    await fs.flush(fh);
    await fs.release(fh);
    expect(reloads).toBe(1);
    expect((await fetched(server.url, 'ckpt/step-100.pt', current.headers as Record<string, string>)).equals(data)).toBe(true);
  });
});
