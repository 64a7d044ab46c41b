import { describe, expect, it } from 'vitest';
import { useServer } from '../helpers/server.js';
import { http, listBody, objectPath, type HttpAnswer, type HttpCall } from './http.js';

/** Follows one redirect by hand, re-sending the body (as the client must for a PUT). */
async function follow(url: string, call: HttpCall, expectedStatus: number): Promise<HttpAnswer> {
  const first = await http(url, call);
  expect(first.status).toBe(expectedStatus);
  const location = new URL(String(first.headers.location));
  expect(location.origin).not.toBe(url);
  expect(location.searchParams.get('provider')).toBe('ais');
  expect(location.searchParams.get('pid')).toBeTruthy();
  expect(location.searchParams.get('utm')).toBeTruthy();
  return http(location.origin, { ...call, path: location.pathname + location.search });
}

describe('--redirect: a proxy listener redirecting to a target', () => {
  const server = useServer({ 'b/hello.txt': 'hello', 'b/ünï name#1.txt': 'odd' }, { redirect: true });

  it('GET is a 301 to the target, which serves the object (and ranges)', async () => {
    const answer = await follow(server.url, { path: objectPath('b', 'hello.txt') }, 301);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('hello');
    const ranged = await follow(server.url, { path: objectPath('b', 'hello.txt'), headers: { range: 'bytes=1-2' } }, 301);
    expect(ranged.status).toBe(206);
    expect(ranged.text).toBe('el');
    const odd = await follow(server.url, { path: objectPath('b', 'ünï name#1.txt') }, 301);
    expect(odd.text).toBe('odd');
  });

  it('HEAD, PUT and DELETE are 307s that work when followed', async () => {
    const head = await follow(server.url, { method: 'HEAD', path: objectPath('b', 'hello.txt') }, 307);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('5');
    const put = await follow(server.url, { method: 'PUT', path: objectPath('b', 'new.txt'), body: 'new body' }, 307);
    expect(put.status).toBe(200);
    expect((await follow(server.url, { path: objectPath('b', 'new.txt') }, 301)).text).toBe('new body');
    const del = await follow(server.url, { method: 'DELETE', path: objectPath('b', 'new.txt') }, 307);
    expect(del.status).toBe(200);
    expect((await follow(server.url, { path: objectPath('b', 'new.txt') }, 301)).status).toBe(404);
  });

  it('serves listings, buckets and health on the proxy directly', async () => {
    const list = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: listBody({ props: 'name' }) });
    expect(list.status).toBe(200);
    expect(JSON.parse(list.text).entries.map((entry: { name: string }) => entry.name)).toContain('hello.txt');
    expect((await http(server.url, { path: '/v1/health' })).status).toBe(200);
    expect((await http(server.url, { path: '/v1/buckets' })).status).toBe(200);
  });

  it('a missing object is still a 404 once redirected; a missing bucket is a 404 at the proxy', async () => {
    expect((await follow(server.url, { path: objectPath('b', 'nope') }, 301)).status).toBe(404);
    expect((await http(server.url, { path: objectPath('nobucket', 'x') })).status).toBe(404);
  });
});
