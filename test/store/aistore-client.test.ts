import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import type { BaseParams } from '../../src/store/base-params.js';
import { AbortedError, ConflictError, NotFoundError, UnauthorizedError } from '../../src/store/errors.js';
import { listAll, type ByteRange, type ListEntry, type ListPageRequest } from '../../src/store/object-store.js';
import { capturingLogger } from '../helpers/logging.js';
import { useServer } from '../helpers/server.js';

const HELLO = 'hello, bucket world\n';
const BINARY = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
const PAGED_COUNT = 7;
const ODD_NAMES = ['with space/a b.txt', '100%/x%20y', 'hash#tag', 'what?now', 'ünï/кот/日本.txt', 'a+b&c=d'];

function seedFiles(): Record<string, string | Buffer> {
  const files: Record<string, string | Buffer> = {
    'b/hello.txt': HELLO,
    'b/binary.bin': BINARY,
    'b/empty': '',
    'b/dir/one.txt': 'one',
    'b/dir/sub/two.txt': 'two',
    'b/dir2/three.txt': 'three',
    'other/x': 'x',
  };
  for (let i = 0; i < PAGED_COUNT; i += 1) files[`paged/obj-${i}`] = `object ${i}`;
  return files;
}

describe.each([false, true])('AistoreClient against bucketfs serve (redirect %s)', (redirect) => {
  const server = useServer(seedFiles(), { redirect });
  let dataDir: string;
  let client: AistoreClient;
  let params: BaseParams;
  const trace = capturingLogger();
  const b = { name: 'b' };

  beforeAll(() => {
    dataDir = server.dataDir;
    client = createAistoreClient({ connectionsPerOrigin: 4, logger: trace.logger });
    params = { endpoint: server.url, headers: {} };
  });

  afterAll(async () => {
    await client?.close();
  });

  async function listNames(bucket: { name: string }, request: ListPageRequest): Promise<ListEntry[]> {
    const entries: ListEntry[] = [];
    for await (const entry of listAll((r) => client.listPage(params, bucket, r), request)) entries.push(entry);
    return entries;
  }

  it('answers health', async () => {
    await expect(client.health(params)).resolves.toBeUndefined();
  });

  it('lists, heads and creates buckets', async () => {
    const names = (await client.listBuckets(params)).map((bucket) => bucket.name);
    expect(names).toEqual(expect.arrayContaining(['b', 'other', 'paged']));
    await expect(client.headBucket(params, b)).resolves.toBeUndefined();
    await expect(client.headBucket(params, { name: 'no-such-bucket' })).rejects.toBeInstanceOf(NotFoundError);
    await client.createBucket(params, { name: 'fresh' });
    await expect(client.headBucket(params, { name: 'fresh' })).resolves.toBeUndefined();
    await expect(client.createBucket(params, { name: 'fresh' })).rejects.toBeInstanceOf(ConflictError);
  });

  it('heads an object: size, version, mtime', async () => {
    const info = await client.head(params, b, 'hello.txt');
    const fileStat = await stat(join(dataDir, 'b/hello.txt'));
    expect(info).toMatchObject({ name: 'hello.txt', size: Buffer.byteLength(HELLO) });
    expect(info.version).toBeTruthy();
    expect(Math.abs(info.mtimeMs - fileStat.mtimeMs)).toBeLessThan(1);
  });

  it('heads a 0-byte object as size 0', async () => {
    expect((await client.head(params, b, 'empty')).size).toBe(0);
  });

  it('reports a missing object or bucket as NotFoundError on HEAD and GET', async () => {
    const headError = await client.head(params, b, 'nope/missing').catch((error: unknown) => error);
    expect(headError).toBeInstanceOf(NotFoundError);
    expect((headError as Error).message).toContain('HEAD ais://b/nope/missing: 404');
    await expect(client.get(params, b, 'nope/missing')).rejects.toBeInstanceOf(NotFoundError);
    const unicodeError = await client.head(params, b, 'нет/файла 日本').catch((error: unknown) => error);
    expect(unicodeError).toBeInstanceOf(NotFoundError);
    expect((unicodeError as Error).message).toContain('HEAD ais://b/нет/файла 日本: 404');
    await expect(client.head(params, { name: 'no-such-bucket' }, 'k')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.get(params, { name: 'no-such-bucket' }, 'k')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('gets a whole object', async () => {
    const result = await client.get(params, b, 'binary.bin');
    expect(result.data.equals(BINARY)).toBe(true);
    expect(result.objectSize).toBe(BINARY.length);
    expect(result.version).toBe((await client.head(params, b, 'binary.bin')).version);
  });

  it.each([
    ['first byte', { offset: 0, length: 1 }, 0, 1],
    ['last byte', { offset: 999, length: 1 }, 999, 1000],
    ['middle', { offset: 100, length: 250 }, 100, 350],
    ['to the end', { offset: 900 }, 900, 1000],
    ['length past the end', { offset: 990, length: 100 }, 990, 1000],
    ['at the end', { offset: 1000, length: 10 }, 1000, 1000],
    ['past the end', { offset: 5000 }, 1000, 1000],
    ['length 0', { offset: 10, length: 0 }, 10, 10],
  ] as Array<[string, ByteRange, number, number]>)('gets a range: %s', async (_label, range, from, to) => {
    const result = await client.get(params, b, 'binary.bin', range);
    expect(result.data.equals(BINARY.subarray(from, to))).toBe(true);
    if (range.length !== 0) expect(result.objectSize).toBe(BINARY.length);
  });

  it('gets a 0-byte object, whole and ranged', async () => {
    expect(await client.get(params, b, 'empty')).toMatchObject({ objectSize: 0, data: Buffer.alloc(0) });
    expect(await client.get(params, b, 'empty', { offset: 0, length: 10 })).toMatchObject({ objectSize: 0, data: Buffer.alloc(0) });
  });

  it('puts, overwrites (new version) and deletes', async () => {
    await client.put(params, b, 'written/new.txt', 'first');
    const first = await client.head(params, b, 'written/new.txt');
    expect(await readFile(join(dataDir, 'b/written/new.txt'), 'utf8')).toBe('first');
    await client.put(params, b, 'written/new.txt', new Uint8Array(Buffer.from('second, longer')));
    const second = await client.head(params, b, 'written/new.txt');
    expect(second.size).toBe(14);
    expect(second.version).not.toBe(first.version);
    expect((await client.get(params, b, 'written/new.txt')).data.toString()).toBe('second, longer');
    await client.delete(params, b, 'written/new.txt');
    await expect(client.head(params, b, 'written/new.txt')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.delete(params, b, 'written/new.txt')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a PUT into a missing bucket', async () => {
    await expect(client.put(params, { name: 'no-such-bucket' }, 'k', 'x')).rejects.toBeInstanceOf(NotFoundError);
  });

  it.each(ODD_NAMES)('round-trips the name %s', async (name) => {
    const bucket = { name: 'other' };
    await client.put(params, bucket, name, `content of ${name}`);
    expect(await readFile(join(dataDir, 'other', name), 'utf8')).toBe(`content of ${name}`);
    expect((await client.head(params, bucket, name)).size).toBe(Buffer.byteLength(`content of ${name}`));
    expect((await client.get(params, bucket, name, { offset: 0, length: 7 })).data.toString()).toBe('content');
    const listed = await listNames(bucket, { prefix: name });
    expect(listed.map((entry) => entry.name)).toContain(name);
  });

  it('pages through a listing with uuid and continuation token', async () => {
    const pages: string[][] = [];
    let continuationToken = '';
    do {
      const page = await client.listPage(params, { name: 'paged' }, { pageSize: 2, continuationToken });
      pages.push(page.entries.map((entry) => entry.name));
      continuationToken = page.continuationToken;
    } while (continuationToken !== '' && pages.length < 20);
    expect(pages.length).toBeGreaterThanOrEqual(4);
    expect(pages.flat()).toEqual(Array.from({ length: PAGED_COUNT }, (_, i) => `obj-${i}`));
  });

  it('lists recursively with sizes and versions', async () => {
    const entries = await listNames(b, { prefix: 'dir' });
    expect(entries.map((entry) => entry.name)).toEqual(['dir/one.txt', 'dir/sub/two.txt', 'dir2/three.txt']);
    expect(entries.every((entry) => !entry.isDir && entry.version !== undefined)).toBe(true);
    expect(entries.map((entry) => entry.size)).toEqual([3, 3, 5]);
    const fileStat = await stat(join(dataDir, 'b/dir/one.txt'));
    expect(Math.abs((entries[0]?.mtimeMs ?? 0) - fileStat.mtimeMs)).toBeLessThan(1000);
  });

  it('lists one level with directories', async () => {
    const top = await listNames(b, { recursive: false });
    expect(top.filter((entry) => entry.isDir).map((entry) => entry.name)).toEqual(['dir/', 'dir2/']);
    expect(top.filter((entry) => !entry.isDir).map((entry) => entry.name)).toEqual(
      expect.arrayContaining(['binary.bin', 'empty', 'hello.txt']),
    );
    const dir = await listNames(b, { prefix: 'dir/', recursive: false });
    expect(dir.map((entry) => [entry.name, entry.isDir])).toEqual([
      ['dir/one.txt', false],
      ['dir/sub/', true],
    ]);
  });

  it('pages a one-level listing', async () => {
    const entries = await listNames(b, { recursive: false, pageSize: 1 });
    const names = entries.map((entry) => entry.name);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['dir/', 'dir2/', 'hello.txt']));
  });

  it('stops on an aborted signal', async () => {
    await expect(client.get(params, b, 'hello.txt', undefined, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
  });

  it(redirect ? 'followed the server redirects' : 'saw no redirects', () => {
    const redirects = trace.lines.filter((line) => line.includes('store redirect')).length;
    if (redirect) expect(redirects).toBeGreaterThan(0);
    else expect(redirects).toBe(0);
  });
});

describe('AistoreClient against a server that wants a token', () => {
  const server = useServer({ 'b/k': 'secret data' }, async (outsideDir) => {
    const authSecretFile = join(outsideDir, 'secret');
    await writeFile(authSecretFile, 'a-shared-hs256-secret-of-enough-length\n');
    return { authSecretFile };
  });
  let client: AistoreClient;

  beforeAll(() => {
    client = createAistoreClient();
  });

  afterAll(async () => {
    await client?.close();
  });

  it('is refused with UnauthorizedError without a token, or with a bad one', async () => {
    await expect(client.get({ endpoint: server.url, headers: {} }, { name: 'b' }, 'k')).rejects.toBeInstanceOf(UnauthorizedError);
    const badToken = 'Bearer not.a.jwt';
    const error = await client
      .head({ endpoint: server.url, headers: { authorization: badToken } }, { name: 'b' }, 'k')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as Error).message).not.toContain('not.a.jwt');
  });
});
