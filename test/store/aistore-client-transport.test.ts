import { afterEach, describe, expect, it } from 'vitest';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import type { BaseParams } from '../../src/store/base-params.js';
import {
  AbortedError,
  NetworkError,
  ProtocolError,
  ServerError,
  TimeoutError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../../src/store/errors.js';
import { capturingLogger } from '../helpers/logging.js';
import { startHttpStub, unusedUrl, type HttpStub } from './http-stub.js';

const TOKEN = 'sekrit-token-value';
const bucket = { name: 'b' };

describe('AistoreClient transport behaviour (scripted HTTP server)', () => {
  let stub: HttpStub | undefined;
  let client: AistoreClient | undefined;

  afterEach(async () => {
    await client?.close();
    await stub?.close();
    client = undefined;
    stub = undefined;
  });

  /** Failures that are retried end after a few quick attempts, well within the retry timeout. */
  const FEW_RETRIES = { maxAttempts: 3, baseDelayMs: 5 } as const;

  function params(url: string): BaseParams {
    return { endpoint: url, headers: { authorization: `Bearer ${TOKEN}` } };
  }

  it('refuses a 200 answer to a bucket HEAD that is not AIStore\'s (an HTML page), and accepts one with bucket props', async () => {
    stub = await startHttpStub((request, response) => {
      if (request.url.startsWith('/v1/buckets/real')) response.writeHead(200, { 'Ais-Bucket-Props': '{"provider":"ais"}' });
      else response.writeHead(200, { 'Content-Type': 'text/html' });
      response.end(request.method === 'HEAD' ? undefined : '<html><body>Welcome</body></html>');
    });
    client = createAistoreClient();
    await expect(client.headBucket(params(stub.url), bucket)).rejects.toThrow(ProtocolError);
    await expect(client.headBucket(params(stub.url), bucket)).rejects.toThrow(/not AIStore's/);
    await expect(client.headBucket(params(stub.url), { name: 'real' })).resolves.toBeUndefined();
  });

  it('lists past entries without a name, with one warning per listing', async () => {
    const entries = [{ name: 'a.txt', size: '1' }, { name: '' }, { name: null }, { name: 'b.txt', size: '2' }];
    stub = await startHttpStub((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ uuid: '', continuation_token: '', entries }));
    });
    const log = capturingLogger();
    client = createAistoreClient({ logger: log.logger });
    for (let i = 0; i < 2; i += 1) {
      const page = await client.listPage(params(stub.url), bucket, { prefix: 'dir/' });
      expect(page.entries.map((entry) => entry.name)).toEqual(['a.txt', 'b.txt']);
    }
    const warnings = log.records().filter((record) => record.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ msg: 'list entries without a name skipped', count: 2 })]);
  });

  it('reports a server that is down as a NetworkError', async () => {
    client = createAistoreClient({ retry: FEW_RETRIES });
    const url = await unusedUrl();
    await expect(client.head(params(url), bucket, 'k')).rejects.toBeInstanceOf(NetworkError);
  });

  it('times out waiting for headers', async () => {
    stub = await startHttpStub(() => {
      // Never answers.
    });
    client = createAistoreClient({ headersTimeoutMs: 200, retry: FEW_RETRIES });
    await expect(client.get(params(stub.url), bucket, 'k')).rejects.toBeInstanceOf(TimeoutError);
  });

  it('times out when the body stalls', async () => {
    stub = await startHttpStub((_request, response) => {
      response.writeHead(200, { 'content-length': '10' });
      response.write('abc');
    });
    client = createAistoreClient({ bodyTimeoutMs: 200, retry: FEW_RETRIES });
    await expect(client.get(params(stub.url), bucket, 'k')).rejects.toBeInstanceOf(TimeoutError);
  });

  it('aborts a request in flight', async () => {
    stub = await startHttpStub(() => {
      // Never answers.
    });
    client = createAistoreClient();
    const controller = new AbortController();
    const pending = client.get(params(stub.url), bucket, 'k', undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
  });

  it('aborts while the body is streaming', async () => {
    stub = await startHttpStub((_request, response) => {
      response.writeHead(200, { 'content-length': '1000' });
      response.write('partial');
    });
    client = createAistoreClient();
    const controller = new AbortController();
    const pending = client.get(params(stub.url), bucket, 'k', undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
  });

  it('aborts before sending when the signal is already aborted', async () => {
    stub = await startHttpStub((_request, response) => response.end());
    client = createAistoreClient();
    await expect(client.health(params(stub.url), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
  });

  it.each([
    [500, ServerError],
    [503, ServerError],
    [429, TooManyRequestsError],
    [401, UnauthorizedError],
  ])('types a %i with the JSON message and without the token', async (status, type) => {
    stub = await startHttpStub((_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ tcode: 'ErrSomething', message: 'the server says no', status }));
    });
    client = createAistoreClient({ retry: FEW_RETRIES });
    const error = await client.delete(params(stub.url), bucket, 'dir/k').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ status, tcode: 'ErrSomething' });
    const message = (error as Error).message;
    expect(message).toContain('DELETE ais://b/dir/k');
    expect(message).toContain('the server says no');
    expect(message).not.toContain(TOKEN);
  });

  it('gives up after 10 redirects', async () => {
    stub = await startHttpStub((_request, response) => {
      response.writeHead(307, { location: '/v1/loop' });
      response.end();
    });
    client = createAistoreClient();
    await expect(client.head(params(stub.url), bucket, 'k')).rejects.toBeInstanceOf(ProtocolError);
    expect(stub.seen).toHaveLength(11);
  });

  it('re-sends method, headers and body on a relative 307', async () => {
    stub = await startHttpStub((request, response) => {
      if (!request.url.startsWith('/target')) {
        response.writeHead(307, { location: `/target${request.url}&pid=p` });
        response.end();
        return;
      }
      response.writeHead(200);
      response.end();
    });
    client = createAistoreClient();
    await client.put(params(stub.url), bucket, 'a b/c', 'payload');
    expect(stub.seen.map((r) => [r.method, r.url, r.body.toString(), r.headers['content-length']])).toEqual([
      ['PUT', '/v1/objects/b/a%20b/c?provider=ais', 'payload', '7'],
      ['PUT', '/target/v1/objects/b/a%20b/c?provider=ais&pid=p', 'payload', '7'],
    ]);
    expect(stub.seen[1]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('cuts the asked range out of a 200 from a server that ignores Range', async () => {
    stub = await startHttpStub((_request, response) => {
      response.writeHead(200, { 'ais-version': '4' });
      response.end('0123456789');
    });
    client = createAistoreClient();
    const result = await client.get(params(stub.url), bucket, 'k', { offset: 2, length: 3 });
    expect(result.data.toString()).toBe('234');
    expect(result).toMatchObject({ objectSize: 10, version: '4' });
    expect(stub.seen[0]?.headers.range).toBe('bytes=2-4');
  });

  it('reuses one connection per path (object GETs; everything else) across successes, failures, HEADs, listings and redirects', async () => {
    stub = await startHttpStub((request, response) => {
      if (request.url.includes('redirect') && !request.url.includes('pid=')) {
        response.writeHead(301, { location: `${request.url}&pid=p`, 'content-length': 5 });
        response.end('moved');
      } else if (request.url.startsWith('/v1/buckets/')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"uuid":"","continuation_token":"","entries":null,"flags":0}');
      } else if (request.url.includes('missing')) {
        const text = '{"message":"gone","status":404}';
        response.writeHead(404, { 'content-type': 'application/json', 'hdr-error': text, 'content-length': text.length });
        response.end(request.method === 'HEAD' ? undefined : text);
      } else {
        response.writeHead(200, { 'content-length': '5' });
        response.end(request.method === 'HEAD' ? undefined : 'hello');
      }
    });
    client = createAistoreClient({ connectionsPerOrigin: 1 });
    for (let round = 0; round < 5; round += 1) {
      await client.get(params(stub.url), bucket, 'k');
      await client.head(params(stub.url), bucket, 'k');
      await client.get(params(stub.url), bucket, 'redirect');
      await expect(client.get(params(stub.url), bucket, 'missing')).rejects.toThrow('gone');
      await expect(client.head(params(stub.url), bucket, 'missing')).rejects.toThrow('gone');
      await client.listPage(params(stub.url), bucket, {});
    }
    expect(stub.seen).toHaveLength(35);
    expect(stub.connections()).toBe(2);
  });

  it('reads a body without Content-Length', async () => {
    stub = await startHttpStub((_request, response) => {
      response.write('abc');
      response.end('def');
    });
    client = createAistoreClient();
    const result = await client.get(params(stub.url), bucket, 'k');
    expect(result.data.toString()).toBe('abcdef');
    expect(result.objectSize).toBe(6);
  });
});
