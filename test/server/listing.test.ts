import { closeSync, openSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/server.js';
import { http, listBody } from './http.js';

interface Page {
  uuid: string;
  continuation_token: string;
  entries: { name: string; size?: string; version?: string; atime?: string; flags: number }[] | null;
}

const MANY = 20_000;

function pad(i: number): string {
  return String(i).padStart(5, '0');
}

describe('list objects', () => {
  const files: Record<string, string> = {
    'b/a.txt': 'a',
    'b/a/x': 'ax',
    'b/a/y/z': 'ayz',
    'b/b': 'bb',
    'b/top/one': '1',
    'b/top/two': '22',
    'b/top/sub/three': '333',
    'b/top/sub/deeper/four': '4444',
    'b/topper': 'x',
    'b/ünï': 'u',
  };
  for (let i = 0; i < 10; i += 1) files[`paged/obj-${i}`] = `object ${i}`;
  const server = useServer(files);

  async function list(bucket: string, value: Record<string, unknown>): Promise<Page> {
    const answer = await http(server.url, { path: `/v1/buckets/${bucket}?provider=ais`, body: listBody(value) });
    expect(answer.status, answer.text).toBe(200);
    return JSON.parse(answer.text) as Page;
  }

  async function listAll(bucket: string, value: Record<string, unknown>): Promise<{ names: string[]; pages: number }> {
    const names: string[] = [];
    let uuid = '';
    let token = '';
    let pages = 0;
    do {
      const page = await list(bucket, { ...value, uuid, continuation_token: token });
      pages += 1;
      expect(page.uuid).not.toBe('');
      if (uuid !== '') expect(page.uuid).toBe(uuid);
      uuid = page.uuid;
      token = page.continuation_token;
      names.push(...(page.entries ?? []).map((entry) => entry.name));
    } while (token !== '' && pages < 100);
    return { names, pages };
  }

  it('lists recursively in byte order with sizes as decimal strings', async () => {
    const page = await list('b', { props: 'name,size,version,atime', time_format: '2006-01-02T15:04:05.999999999Z07:00' });
    expect(page.continuation_token).toBe('');
    expect((page.entries ?? []).map((entry) => entry.name)).toEqual([
      'a.txt', 'a/x', 'a/y/z', 'b', 'top/one', 'top/sub/deeper/four', 'top/sub/three', 'top/two', 'topper', 'ünï',
    ]);
    const four = page.entries?.find((entry) => entry.name === 'top/sub/deeper/four');
    expect(four).toMatchObject({ size: '4', flags: 64 });
    expect(four?.version).toMatch(/^[0-9a-f]{16}$/);
    expect(Date.parse(four?.atime ?? '')).toBeGreaterThan(0);
  });

  it('pages across ≥ 3 pages with uuid + continuation_token', async () => {
    const { names, pages } = await listAll('paged', { pagesize: 3, props: 'name' });
    expect(pages).toBe(4);
    expect(names).toEqual(Array.from({ length: 10 }, (_, i) => `obj-${i}`));
  });

  it('non-recursive: direct children, folders as `name/` with flags 256 only', async () => {
    const page = await list('b', { flags: '2048', props: 'name,size' });
    expect(page.entries).toEqual([
      { name: 'a.txt', size: '1', flags: 64 },
      { name: 'a/', flags: 256 },
      { name: 'b', size: '2', flags: 64 },
      { name: 'top/', flags: 256 },
      { name: 'topper', size: '1', flags: 64 },
      { name: 'ünï', size: '1', flags: 64 },
    ]);
    const inTop = await list('b', { flags: '2048', prefix: 'top/', props: 'name' });
    expect((inTop.entries ?? []).map((entry) => [entry.name, entry.flags])).toEqual([
      ['top/one', 64],
      ['top/sub/', 256],
      ['top/two', 64],
    ]);
    const noDirs = await list('b', { flags: String(2048 | 8192), prefix: 'top/', props: 'name' });
    expect((noDirs.entries ?? []).map((entry) => entry.name)).toEqual(['top/one', 'top/two']);
  });

  it('a prefix not ending in "/" matches name prefixes', async () => {
    const recursive = await list('b', { prefix: 'top', props: 'name' });
    expect((recursive.entries ?? []).map((entry) => entry.name)).toEqual(['top/one', 'top/sub/deeper/four', 'top/sub/three', 'top/two', 'topper']);
    const flat = await list('b', { prefix: 'top', flags: '2048', props: 'name' });
    expect((flat.entries ?? []).map((entry) => entry.name)).toEqual(['top/', 'topper']);
    const missing = await list('b', { prefix: 'nothing/here/', props: 'name' });
    expect(missing.entries ?? []).toEqual([]);
  });

  it('start_after skips up to and including the name, also into sub-folders', async () => {
    const page = await list('b', { start_after: 'top/sub/deeper/four', props: 'name' });
    expect((page.entries ?? []).map((entry) => entry.name)).toEqual(['top/sub/three', 'top/two', 'topper', 'ünï']);
    const flat = await list('b', { start_after: 'a/', flags: '2048', props: 'name' });
    expect((flat.entries ?? []).map((entry) => entry.name)).toEqual(['b', 'top/', 'topper', 'ünï']);
  });

  it('hides empty folders, temp files of PUTs in progress, and symlinks leading outside', async () => {
    await mkdir(join(server.dataDir, 'b/empty/nested'), { recursive: true });
    await writeFile(join(server.dataDir, 'b/top/.bucketfs-put-0123'), 'partial');
    await symlink('/etc/passwd', join(server.dataDir, 'b/escape'));
    const { names } = await listAll('b', { props: 'name' });
    expect(names).not.toContain('top/.bucketfs-put-0123');
    expect(names).not.toContain('escape');
    const flat = await list('b', { flags: '2048', props: 'name' });
    expect((flat.entries ?? []).map((entry) => entry.name)).not.toContain('empty/');
  });

  it('follows symlinks inside DIR but never loops through one that points back up', async () => {
    await symlink(join(server.dataDir, 'b'), join(server.dataDir, 'b/a/loop'));
    await symlink(join(server.dataDir, 'b/top/sub/deeper'), join(server.dataDir, 'b/alias'));
    try {
      const { names } = await listAll('b', { props: 'name' });
      expect(names.filter((name) => name.startsWith('alias/'))).toEqual(['alias/four']);
      expect(names.some((name) => name.startsWith('a/loop'))).toBe(false);
      const flat = await list('b', { prefix: 'a/', flags: '2048', props: 'name' });
      expect((flat.entries ?? []).map((entry) => entry.name)).toEqual(['a/x', 'a/y/']);
    } finally {
      await rm(join(server.dataDir, 'b/a/loop'));
      await rm(join(server.dataDir, 'b/alias'));
    }
  });

  it('rejects unknown value keys and bad flags with 400', async () => {
    for (const value of [{ bogus: true }, { flags: 'x' }]) {
      const answer = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: listBody(value) });
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.text)).toMatchObject({ status: 400 });
    }
  });

  it('lists a missing bucket as 404', async () => {
    const answer = await http(server.url, { path: '/v1/buckets/nope?provider=ais', body: listBody({}) });
    expect(answer.status).toBe(404);
  });

  it(`pages through a folder of ${MANY} objects`, async () => {
    const folder = join(server.dataDir, 'many/dir');
    await mkdir(folder, { recursive: true });
    // Synchronous creation of empty files is far quicker than 20,000 round trips through the thread pool.
    for (let i = 0; i < MANY; i += 1) closeSync(openSync(join(folder, `f${pad(i)}`), 'w'));
    const { names, pages } = await listAll('many', { prefix: 'dir/', flags: '2048', pagesize: 5000, props: 'name,size' });
    expect(pages).toBe(4);
    expect(names.length).toBe(MANY);
    expect(names[0]).toBe('dir/f00000');
    expect(names[MANY - 1]).toBe(`dir/f${pad(MANY - 1)}`);
  });
});
