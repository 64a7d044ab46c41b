import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { getGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { WORK_FOLDER } from '../../src/server/work-files.js';
import { useServer, withTempDir, writeObjects } from '../helpers/server.js';
import { errorOf, http, listBody, objectPath } from './http.js';

function pattern(sizeBytes: number, seed: number): Buffer {
  const data = Buffer.allocUnsafe(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 1) data[i] = (i * 31 + seed * 7 + (i >> 12)) & 0xff;
  return data;
}

async function listNames(url: string, bucket: string, prefix = ''): Promise<string[]> {
  const answer = await http(url, { method: 'GET', path: `/v1/buckets/${bucket}?provider=ais`, headers: { 'content-type': 'application/json' }, body: listBody({ prefix, flags: '0' }) });
  expect(answer.status).toBe(200);
  const entries = (JSON.parse(answer.text) as { entries: { name: string }[] | null }).entries ?? [];
  return entries.map((entry) => entry.name).sort();
}

function appendPath(bucket: string, name: string, type: 'append' | 'flush', handle: string): string {
  return objectPath(bucket, name, `provider=ais&append_type=${type}&append_handle=${encodeURIComponent(handle)}`);
}

async function append(url: string, name: string, handle: string, chunk: Buffer | string): Promise<string> {
  const answer = await http(url, { method: 'PUT', path: appendPath('b', name, 'append', handle), body: chunk });
  expect(answer.status, answer.text).toBe(200);
  const next = String(answer.headers['ais-append-handle'] ?? '');
  expect(next).not.toBe('');
  return next;
}

describe('PUT', () => {
  const server = useServer({ 'b/keep.txt': 'keep' });

  it('answers the new version, and keeps object and version when the same bytes come again', async () => {
    const first = await http(server.url, { method: 'PUT', path: objectPath('b', 'v/one'), body: 'first' });
    expect(first.status).toBe(200);
    const version = String(first.headers['ais-version']);
    expect(version).toMatch(/^[0-9a-f]+$/);
    const again = await http(server.url, { method: 'PUT', path: objectPath('b', 'v/one'), body: 'first' });
    expect(again.headers['ais-version']).toBe(version);
    const head = await http(server.url, { method: 'HEAD', path: objectPath('b', 'v/one') });
    expect(head.headers['ais-version']).toBe(version);
    const changed = await http(server.url, { method: 'PUT', path: objectPath('b', 'v/one'), body: 'other' });
    expect(changed.headers['ais-version']).not.toBe(version);
    expect(await readFile(join(server.dataDir, 'b/v/one'), 'utf8')).toBe('other');
  });

  it('never lets a reader see part of a large object being replaced', async () => {
    const SIZE = 8 * 1024 * 1024;
    const old = pattern(SIZE, 1);
    const replacement = pattern(SIZE, 2);
    await writeObjects(server.dataDir, { 'b/big.bin': old });
    // The PUT body is held back halfway until readers have run against the half-written upload.
    let releaseSecondHalf = (): void => {};
    const secondHalf = new Promise<void>((resolve) => (releaseSecondHalf = resolve));
    let firstHalfSent = (): void => {};
    const halfway = new Promise<void>((resolve) => (firstHalfSent = resolve));
    async function* body(): AsyncGenerator<Buffer> {
      yield replacement.subarray(0, SIZE / 2);
      firstHalfSent();
      await secondHalf;
      yield replacement.subarray(SIZE / 2);
    }
    const put = getGlobalDispatcher().request({
      origin: server.url,
      path: objectPath('b', 'big.bin'),
      method: 'PUT',
      headers: { 'content-length': String(SIZE) },
      body: Readable.from(body()),
    });
    let putDone = false;
    const finished = put.then(async (answer) => {
      await answer.body.dump();
      putDone = true;
      return answer.statusCode;
    });
    await halfway;
    const seen = { old: 0, replacement: 0 };
    const readOnce = async (): Promise<void> => {
      const answer = await http(server.url, { path: objectPath('b', 'big.bin') });
      expect(answer.status).toBe(200);
      if (answer.body.equals(old)) seen.old += 1;
      else if (answer.body.equals(replacement)) seen.replacement += 1;
      else throw new Error(`a GET saw ${answer.body.length} bytes that are neither the old object nor the new one`);
    };
    // While the upload is stuck halfway, readers get the old object whole.
    await Promise.all([readOnce(), readOnce(), readOnce()]);
    expect(seen.old).toBe(3);
    releaseSecondHalf();
    const readers = Array.from({ length: 3 }, async () => {
      while (!putDone) await readOnce();
    });
    expect(await finished).toBe(200);
    await Promise.all(readers);
    await readOnce();
    expect(seen.replacement).toBeGreaterThanOrEqual(1);
    expect((await readdir(join(server.dataDir, 'b'))).filter((name) => name.startsWith('.') && name !== WORK_FOLDER)).toEqual([]);
  });
});

describe('append and flush', () => {
  const server = useServer({ 'b/existing.txt': 'old-', 'b/keep.txt': 'keep' });

  it('builds the object from chunks, shows nothing before the flush, and answers a repeated flush as the first', async () => {
    let handle = await append(server.url, 'new/obj', '', 'one,');
    handle = await append(server.url, 'new/obj', handle, 'two,');
    handle = await append(server.url, 'new/obj', handle, 'three');
    expect((await http(server.url, { path: objectPath('b', 'new/obj') })).status).toBe(404);
    expect(await listNames(server.url, 'b')).toEqual(['existing.txt', 'keep.txt']);
    const flush = await http(server.url, { method: 'PUT', path: appendPath('b', 'new/obj', 'flush', handle) });
    expect(flush.status, flush.text).toBe(200);
    const version = String(flush.headers['ais-version']);
    expect((await http(server.url, { path: objectPath('b', 'new/obj') })).text).toBe('one,two,three');
    expect(await listNames(server.url, 'b', 'new/')).toEqual(['new/obj']);
    const again = await http(server.url, { method: 'PUT', path: appendPath('b', 'new/obj', 'flush', handle) });
    expect(again.status).toBe(200);
    expect(again.headers['ais-version']).toBe(version);
  });

  it('replaces a chunk sent again from an older handle instead of adding it twice', async () => {
    const first = await append(server.url, 'resent', '', 'aaaa');
    await append(server.url, 'resent', first, 'bbbb');
    const resent = await append(server.url, 'resent', first, 'BBBB');
    const flush = await http(server.url, { method: 'PUT', path: appendPath('b', 'resent', 'flush', resent) });
    expect(flush.status).toBe(200);
    expect(await readFile(join(server.dataDir, 'b/resent'), 'utf8')).toBe('aaaaBBBB');
  });

  it('starts from a copy of an existing object, which stays as it was until the flush', async () => {
    const handle = await append(server.url, 'existing.txt', '', 'new');
    expect((await http(server.url, { path: objectPath('b', 'existing.txt') })).text).toBe('old-');
    await http(server.url, { method: 'PUT', path: appendPath('b', 'existing.txt', 'flush', handle) });
    expect((await http(server.url, { path: objectPath('b', 'existing.txt') })).text).toBe('old-new');
  });

  it('checks a declared checksum at the flush: a mismatch is a 500 ErrBadCksum and nothing is placed', async () => {
    const handle = await append(server.url, 'summed', '', 'payload');
    const wrong = await http(server.url, {
      method: 'PUT',
      path: appendPath('b', 'summed', 'flush', handle),
      headers: { 'ais-checksum-type': 'sha256', 'ais-checksum-value': '00'.repeat(32) },
    });
    expect(wrong.status).toBe(500);
    expect(JSON.parse(wrong.text)).toMatchObject({ tcode: 'ErrBadCksum' });
    expect((await http(server.url, { path: objectPath('b', 'summed') })).status).toBe(404);
    const { createHash } = await import('node:crypto');
    const right = await http(server.url, {
      method: 'PUT',
      path: appendPath('b', 'summed', 'flush', handle),
      headers: { 'ais-checksum-type': 'md5', 'ais-checksum-value': createHash('md5').update('payload').digest('hex') },
    });
    expect(right.status, right.text).toBe(200);
    expect((await http(server.url, { path: objectPath('b', 'summed') })).text).toBe('payload');
  });

  it('refuses a handle it never issued, or one for another object, with a clear 400', async () => {
    const unknown = await http(server.url, { method: 'PUT', path: appendPath('b', 'x', 'append', '0123456789abcdef.0'), body: 'x' });
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown).message).toMatch(/append handle "0123456789abcdef\.0" is unknown to this server/);
    const garbage = await http(server.url, { method: 'PUT', path: appendPath('b', 'x', 'flush', 'not-a-handle') });
    expect(garbage.status).toBe(400);
    const handle = await append(server.url, 'mine', '', 'x');
    const elsewhere = await http(server.url, { method: 'PUT', path: appendPath('b', 'theirs', 'flush', handle) });
    expect(elsewhere.status).toBe(400);
    const badType = await http(server.url, { method: 'PUT', path: objectPath('b', 'x', 'provider=ais&append_type=merge'), body: 'x' });
    expect(badType.status).toBe(400);
    expect(errorOf(badType).message).toMatch(/unknown append_type "merge"/);
  });

  it('keeps work files out of listings and out of reach as objects', async () => {
    await append(server.url, 'hidden', '', 'x');
    expect(await readdir(join(server.dataDir, 'b', WORK_FOLDER))).not.toEqual([]);
    expect(await listNames(server.url, 'b')).not.toContain(WORK_FOLDER);
    expect(await listNames(server.url, 'b')).not.toContain(`${WORK_FOLDER}/`);
    const reach = await http(server.url, { path: objectPath('b', `${WORK_FOLDER}/x`) });
    expect(reach.status).toBe(400);
  });
});

describe('abandoned appends', () => {
  let server: RunningServer | undefined;
  let root: { path: string; remove: () => Promise<void> } | undefined;
  const IDLE_MS = 300;

  beforeAll(async () => {
    root = await withTempDir('work-files');
    await writeObjects(root.path, { 'b/keep.txt': 'keep' });
    server = await startServer({ dataDir: root.path, workFileIdleMs: IDLE_MS });
  });
  afterAll(async () => {
    await server?.close();
    await root?.remove();
  });

  it('removes the work file after a while; its handle is then unknown', async () => {
    const url = server!.url;
    const handle = await append(url, 'left', '', 'abandoned bytes');
    const workDir = join(root!.path, 'b', WORK_FOLDER);
    expect(await readdir(workDir)).toHaveLength(1);
    const deadline = Date.now() + 30_000;
    while ((await readdir(workDir)).length > 0) {
      if (Date.now() > deadline) throw new Error('the abandoned work file was never removed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const flush = await http(url, { method: 'PUT', path: appendPath('b', 'left', 'flush', handle) });
    expect(flush.status).toBe(400);
    expect(errorOf(flush).message).toMatch(/unknown to this server/);
    expect((await http(url, { path: objectPath('b', 'left') })).status).toBe(404);
  });
});

describe('rename-obj', () => {
  const server = useServer({ 'b/src/a.txt': 'alpha', 'b/src/stay.txt': 'stay', 'b/lone/x': 'x', 'b/dst/over.txt': 'to be replaced' });

  function renameCall(from: string, to: unknown): Promise<Awaited<ReturnType<typeof http>>> {
    return http(server.url, { method: 'POST', path: objectPath('b', from), headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'rename-obj', name: to }) });
  }

  it('moves the object, making the new folders; both listings show it at once', async () => {
    // Listed first, so both folders sit in the server's folder cache.
    expect(await listNames(server.url, 'b', 'src/')).toEqual(['src/a.txt', 'src/stay.txt']);
    expect(await listNames(server.url, 'b', 'new/')).toEqual([]);
    const answer = await renameCall('src/a.txt', 'new/deep/a.txt');
    expect(answer.status, answer.text).toBe(200);
    expect(await readFile(join(server.dataDir, 'b/new/deep/a.txt'), 'utf8')).toBe('alpha');
    expect((await http(server.url, { path: objectPath('b', 'src/a.txt') })).status).toBe(404);
    expect(await listNames(server.url, 'b', 'src/')).toEqual(['src/stay.txt']);
    expect(await listNames(server.url, 'b', 'new/')).toEqual(['new/deep/a.txt']);
  });

  it('replaces the target, and removes the folder it leaves empty', async () => {
    expect((await renameCall('lone/x', 'dst/over.txt')).status).toBe(200);
    expect(await readFile(join(server.dataDir, 'b/dst/over.txt'), 'utf8')).toBe('x');
    await expect(stat(join(server.dataDir, 'b/lone'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('is a 404 for a missing object and a 400 for a bad message or name', async () => {
    const missing = await renameCall('nope', 'other');
    expect(missing.status).toBe(404);
    expect(errorOf(missing).message).toMatch(/does not exist/);
    expect((await renameCall('src/stay.txt', '../outside')).status).toBe(400);
    expect((await renameCall('src/stay.txt', `${WORK_FOLDER}/x`)).status).toBe(400);
    expect((await renameCall('src/stay.txt', 42)).status).toBe(400);
    const action = await http(server.url, { method: 'POST', path: objectPath('b', 'src/stay.txt'), body: JSON.stringify({ action: 'promote' }) });
    expect(action.status).toBe(400);
    expect(errorOf(action).message).toMatch(/unsupported object action "promote"/);
    expect(await readFile(join(server.dataDir, 'b/src/stay.txt'), 'utf8')).toBe('stay');
  });
});
