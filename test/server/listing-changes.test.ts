import { rename, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderCache } from '../../src/server/folder-cache.js';
import { makeDataDir, useServer, type ServerFixture } from '../helpers/server.js';
import { http, listBody, objectPath } from './http.js';

interface Page {
  uuid: string;
  continuation_token: string;
  entries: { name: string; size?: string }[] | null;
}

const LS_NO_RECURSION = '2048';

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** Resolves once `condition` holds, checking every few milliseconds (for conditions only the clock makes true). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 5));
}

function lister(server: ServerFixture) {
  async function page(bucket: string, value: Record<string, unknown>): Promise<Page> {
    const answer = await http(server.url, { path: `/v1/buckets/${bucket}?provider=ais`, body: listBody(value) });
    expect(answer.status, answer.text).toBe(200);
    return JSON.parse(answer.text) as Page;
  }
  /** The rest of a listing after `first`, with the same request. */
  async function rest(bucket: string, value: Record<string, unknown>, first: Page): Promise<NonNullable<Page['entries']>> {
    const entries: NonNullable<Page['entries']> = [];
    let token = first.continuation_token;
    while (token !== '') {
      const next = await page(bucket, { ...value, uuid: first.uuid, continuation_token: token });
      expect(next.uuid).toBe(first.uuid);
      entries.push(...(next.entries ?? []));
      token = next.continuation_token;
    }
    return entries;
  }
  async function put(name: string, body: string): Promise<void> {
    expect((await http(server.url, { method: 'PUT', path: objectPath(...splitBucket(name)), body })).status).toBe(200);
  }
  async function remove(name: string): Promise<void> {
    expect((await http(server.url, { method: 'DELETE', path: objectPath(...splitBucket(name)) })).status).toBe(200);
  }
  return { page, rest, put, remove };
}

function splitBucket(name: string): [string, string] {
  const slash = name.indexOf('/');
  return [name.slice(0, slash), name.slice(slash + 1)];
}

describe('PUT and DELETE between the pages of a listing', () => {
  const files: Record<string, string> = {};
  for (const mode of ['recursive', 'flat']) for (let i = 0; i < 30; i += 1) files[`${mode}/f/n${pad(i)}`] = 'x';
  Object.assign(files, { 'tree/a/x': 'x', 'tree/m/only': 'x', 'tree/z/y': 'x', 'one/a/x': 'x', 'one/m/only': 'x', 'one/z/y': 'x' });
  const server = useServer(files);
  const { page, rest, put, remove } = lister(server);

  it.each([
    ['recursive', {}],
    ['flat', { flags: LS_NO_RECURSION }],
  ])('%s: names after the resume point that were added or replaced are listed once, deleted ones not at all', async (bucket, mode) => {
    const value = { ...mode, prefix: 'f/', pagesize: 10, props: 'name,size' };
    const first = await page(bucket, value);
    expect((first.entries ?? []).map((entry) => entry.name)).toEqual(Array.from({ length: 10 }, (_, i) => `f/n${pad(i)}`));
    await put(`${bucket}/f/n05x`, 'before the resume point');
    await put(`${bucket}/f/n15x`, 'new');
    await put(`${bucket}/f/n12`, 'replaced');
    await remove(`${bucket}/f/n20`);
    const later = await rest(bucket, value, first);
    const expected = Array.from({ length: 20 }, (_, i) => `f/n${pad(i + 10)}`).filter((name) => name !== 'f/n20');
    expected.splice(expected.indexOf('f/n15') + 1, 0, 'f/n15x');
    expect(later.map((entry) => entry.name)).toEqual(expected);
    expect(later.find((entry) => entry.name === 'f/n12')?.size).toBe(String('replaced'.length));
    expect(later.find((entry) => entry.name === 'f/n15x')?.size).toBe(String('new'.length));
  });

  it('recursive: a new folder after the resume point is listed; a folder whose last object went is not', async () => {
    const first = await page('tree', { pagesize: 1, props: 'name' });
    expect((first.entries ?? []).map((entry) => entry.name)).toEqual(['a/x']);
    await put('tree/k/new', 'k');
    await remove('tree/m/only');
    expect((await rest('tree', { pagesize: 1, props: 'name' }, first)).map((entry) => entry.name)).toEqual(['k/new', 'z/y']);
  });

  it('one level: a new folder after the resume point is listed; a folder whose last object went is not', async () => {
    const value = { flags: LS_NO_RECURSION, pagesize: 1, props: 'name' };
    const first = await page('one', value);
    expect((first.entries ?? []).map((entry) => entry.name)).toEqual(['a/']);
    await put('one/k/new', 'k');
    await remove('one/m/only');
    expect((await rest('one', value, first)).map((entry) => entry.name)).toEqual(['k/', 'z/']);
  });
});

describe('changes other programs make in the data folder', () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 20; i += 1) files[`b/n${pad(i)}`] = 'x';
  files['c/edited'] = 'x';
  const settleMs = 50;
  const statMaxAgeMs = 200;
  const server = useServer(files, { folderCache: { settleMs, statMaxAgeMs } });
  const { page, rest } = lister(server);

  it('a file created or removed between pages of a settled folder is seen (the folder changed)', async () => {
    const folder = join(server.dataDir, 'b');
    const { mtimeMs, ctimeMs } = await stat(folder);
    await until(() => Date.now() - Math.max(mtimeMs, ctimeMs) > settleMs);
    const value = { pagesize: 5, props: 'name' };
    const first = await page('b', value);
    // A second listing reuses the folder read by the first: it must still see what happens next.
    const second = await page('b', value);
    expect(second.uuid).not.toBe(first.uuid);
    await writeFile(join(folder, 'n07x'), 'outside');
    await unlink(join(folder, 'n12'));
    for (const listing of [first, second]) {
      const names = (await rest('b', value, listing)).map((entry) => entry.name);
      expect(names).toContain('n07x');
      expect(names).not.toContain('n12');
      expect(names.length).toBe(15);
    }
  });

  it('a file edited in place shows its new size once its stat is older than the stat age', async () => {
    const before = await page('c', { props: 'name,size' });
    expect(before.entries).toEqual([{ name: 'edited', size: '1', flags: 64 }]);
    const editedAtMs = Date.now();
    await writeFile(join(server.dataDir, 'c/edited'), 'longer');
    await until(() => Date.now() - editedAtMs > statMaxAgeMs);
    const after = await page('c', { props: 'name,size' });
    expect(after.entries).toEqual([{ name: 'edited', size: '6', flags: 64 }]);
  });
});

describe('a folder replaced by a symlink leading outside between pages', () => {
  const server = useServer({ 's/real/a': 'a', 's/real/b': 'b', 's/real/c': 'c', 's/links/0': '0' });
  const { page, rest } = lister(server);

  it('is not followed through a link a cached folder still names', async () => {
    await symlink(join(server.dataDir, 's/real'), join(server.dataDir, 's/links/alias'), 'dir');
    await writeFile(join(server.outsideDir, 'canary'), 'outside');
    const value = { prefix: 'links/', pagesize: 2, props: 'name,size' };
    const first = await page('s', value);
    expect((first.entries ?? []).map((entry) => entry.name)).toEqual(['links/0', 'links/alias/a']);
    // The link itself is untouched, so its folder's entries stay valid; what it points at becomes a link outside.
    await rename(join(server.dataDir, 's/real'), join(server.dataDir, 's/real-moved'));
    await symlink(server.outsideDir, join(server.dataDir, 's/real'), 'dir');
    const names = (await rest('s', value, first)).map((entry) => entry.name);
    expect(names).not.toContain('links/alias/canary');
    expect(names).toEqual([]);
  });
});

describe('the folder cache', () => {
  it('keeps at most its bound of entries, and serves a folder larger than the bound all the same', async () => {
    const files: Record<string, string> = {};
    for (const folder of ['a', 'b', 'c']) for (let i = 0; i < 30; i += 1) files[`bucket/${folder}/n${pad(i)}`] = '';
    for (let i = 0; i < 80; i += 1) files[`bucket/large/n${pad(i)}`] = '';
    const data = await makeDataDir(files);
    try {
      const cache = new FolderCache(data.path, { maxEntries: 50, idleMs: 60_000, statMaxAgeMs: 60_000, settleMs: 0 });
      for (const folder of ['a', 'b', 'c']) {
        expect((await cache.folder(join(data.path, 'bucket', folder), 'listing')).entries.names.length).toBe(30);
        expect(cache.cachedEntries).toBeLessThanOrEqual(50);
        expect(cache.cachedEntries).toBeGreaterThan(0);
      }
      const large = await cache.folder(join(data.path, 'bucket/large'), 'listing');
      expect(large.entries.names).toEqual(Array.from({ length: 80 }, (_, i) => `n${pad(i)}`));
      expect(cache.cachedEntries).toBeLessThanOrEqual(50);
    } finally {
      await data.remove();
    }
  });
});
