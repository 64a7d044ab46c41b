import { readdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useServer } from '../helpers/server.js';
import { http, listBody } from './http.js';

const CANARY = 'CANARY-7f3a9c: must never be served or overwritten';

describe('paths that would escape DIR', () => {
  const server = useServer({ 'b/inside.txt': 'inside' }, async (outsideDir) => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(outsideDir, 'canary'), CANARY);
    return {};
  });

  beforeAll(async () => {
    await symlink(server.outsideDir, join(server.dataDir, 'b/link-dir'));
    await symlink(join(server.outsideDir, 'canary'), join(server.dataDir, 'b/link-file'));
    await symlink(server.outsideDir, join(server.dataDir, 'linked-bucket'));
  });

  const attempts = [
    '/v1/objects/b/../../outside/canary',
    '/v1/objects/b/%2e%2e/%2e%2e/outside/canary',
    '/v1/objects/b/%2E%2E/%2E%2E/outside/canary',
    '/v1/objects/b/..%2f..%2foutside%2fcanary',
    '/v1/objects/b/..%2F..%2Foutside%2Fcanary',
    '/v1/objects/b/..%5c..%5coutside%5ccanary',
    '/v1/objects/b/..\\..\\outside\\canary',
    '/v1/objects/b/%2Ftmp%2Fcanary',
    '/v1/objects/b//outside/canary',
    '/v1/objects/b/./inside.txt',
    '/v1/objects/b/canary%00.txt',
    '/v1/objects/b/%252e%252e/x',
    '/v1/objects/../outside/canary',
    '/v1/objects/%2e%2e/outside/canary',
    '/v1/objects/b/link-dir/canary',
    '/v1/objects/b/link-dir/new-file',
    '/v1/objects/b/link-file',
    '/v1/objects/b/.bucketfs-put-0000',
  ];

  async function assertCanaryIntact(): Promise<void> {
    expect(await readFile(join(server.outsideDir, 'canary'), 'utf8')).toBe(CANARY);
    expect((await readdir(server.outsideDir)).sort()).toEqual(['canary']);
  }

  it.each(attempts)('%s is refused for every method, nothing outside touched', async (path) => {
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE'] as const) {
      const answer = await http(server.url, { method, path, ...(method === 'PUT' ? { body: 'PWNED' } : {}) });
      // `%252e%252e` decodes once to a harmless literal `%2e%2e` name: absent, so 404 (or a PUT of that literal name).
      if (path.includes('%252e')) {
        expect([200, 404]).toContain(answer.status);
      } else {
        expect(answer.status, `${method} ${path}`).toBe(400);
      }
      expect(answer.text).not.toContain('CANARY-7f3a9c');
    }
    await assertCanaryIntact();
  });

  it('a bucket that is a symlink leading outside is refused', async () => {
    for (const method of ['GET', 'PUT', 'DELETE'] as const) {
      const answer = await http(server.url, { method, path: '/v1/objects/linked-bucket/canary', ...(method === 'PUT' ? { body: 'PWNED' } : {}) });
      expect([400, 404]).toContain(answer.status);
      expect(answer.text).not.toContain('CANARY-7f3a9c');
    }
    await assertCanaryIntact();
  });

  it('a listing never walks out: `..` prefixes and outside symlinks list nothing', async () => {
    for (const prefix of ['../', '../outside/', 'link-dir/', '/']) {
      const answer = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: listBody({ prefix, props: 'name' }) });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text).entries).toEqual([]);
    }
    const all = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: listBody({ props: 'name' }) });
    expect(JSON.parse(all.text).entries.map((entry: { name: string }) => entry.name)).toEqual(['inside.txt']);
  });

  it('the legitimate object next door is still served', async () => {
    expect((await http(server.url, { path: '/v1/objects/b/inside.txt' })).text).toBe('inside');
  });
});
