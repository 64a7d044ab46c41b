import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/server.js';
import { errorOf, http } from './http.js';

describe('buckets and health', () => {
  const server = useServer({ 'alpha/x': 'x', 'beta/y/z': 'z', '.hidden/secret': 's' });

  it('GET /v1/health is 200 with an empty body, readiness too', async () => {
    for (const path of ['/v1/health', '/v1/health?readiness=true']) {
      const answer = await http(server.url, { path });
      expect(answer.status).toBe(200);
      expect(answer.body.length).toBe(0);
    }
  });

  it('lists buckets (hidden folders are not buckets)', async () => {
    const answer = await http(server.url, { path: '/v1/buckets?provider=ais', body: JSON.stringify({ action: 'list', name: '', value: null }) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual([
      { name: 'alpha', provider: 'ais', namespace: { uuid: '', name: '' } },
      { name: 'beta', provider: 'ais', namespace: { uuid: '', name: '' } },
    ]);
  });

  it('HEAD bucket: 200 with Ais-Bucket-Props JSON, 404 with Hdr-Error', async () => {
    const found = await http(server.url, { method: 'HEAD', path: '/v1/buckets/alpha?provider=ais' });
    expect(found.status).toBe(200);
    expect(JSON.parse(String(found.headers['ais-bucket-props']))).toMatchObject({ provider: 'ais' });
    const missing = await http(server.url, { method: 'HEAD', path: '/v1/buckets/nope?provider=ais' });
    expect(missing.status).toBe(404);
    expect(errorOf(missing)).toMatchObject({ status: 404 });
  });

  it('creates a bucket; creating it again is a 409', async () => {
    const body = JSON.stringify({ action: 'create-bck', name: '', value: null });
    const created = await http(server.url, { method: 'POST', path: '/v1/buckets/gamma?provider=ais', body });
    expect(created.status).toBe(200);
    expect((await stat(join(server.dataDir, 'gamma'))).isDirectory()).toBe(true);
    const again = await http(server.url, { method: 'POST', path: '/v1/buckets/gamma?provider=ais', body });
    expect(again.status).toBe(409);
    expect(errorOf(again)).toMatchObject({ status: 409 });
  });

  it('unknown paths are a JSON 404, wrong methods a 405', async () => {
    expect((await http(server.url, { path: '/v2/whatever' })).status).toBe(404);
    expect((await http(server.url, { method: 'DELETE', path: '/v1/health' })).status).toBe(405);
  });
});
