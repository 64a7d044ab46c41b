import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DISCARD_LIMIT_BYTES, MAX_ERROR_BODY_BYTES } from '../../src/store/buffered-response.js';
import { HttpTransport } from '../../src/store/http-transport.js';
import { joinChunks } from '../../src/store/response-body.js';
import { startHttpStub, type HttpStub } from './http-stub.js';

const payload = randomBytes(2 * 1024 * 1024);
const bigError = Buffer.alloc(1024 * 1024, 'e');

describe('response bodies gathered as the chunks the socket delivered', () => {
  let stub: HttpStub | undefined;
  let transport: HttpTransport | undefined;

  afterEach(async () => {
    await transport?.close();
    await stub?.close();
    transport = undefined;
    stub = undefined;
  });

  async function setup(): Promise<(path: string) => ReturnType<HttpTransport['send']>> {
    stub = await startHttpStub((request, response) => {
      if (request.url === '/payload') response.writeHead(200, { 'content-length': payload.length }).end(payload);
      else if (request.url === '/big-error') response.writeHead(500, { 'content-length': bigError.length }).end(bigError);
      else response.writeHead(200, { 'content-length': 2 }).end('ok');
    });
    // The general path: object GETs over plain HTTP would otherwise read into one buffer (direct-get.ts).
    transport = new HttpTransport({ connectionsPerOrigin: 1, directGet: false });
    const origin = stub.url;
    const send = transport.send;
    return (path) => send({ method: 'GET', target: { origin, path }, headers: {}, what: `GET ${path}` });
  }

  it('keeps a large body in several chunks, byte-identical once joined', async () => {
    const get = await setup();
    const response = await get('/payload');
    const received = await response.body.received;
    expect(received.error).toBeUndefined();
    expect(received.bytes).toBe(payload.length);
    expect(received.chunks.length).toBeGreaterThan(1);
    expect(joinChunks(received.chunks, received.bytes).equals(payload)).toBe(true);
  });

  it('keeps an error answer only up to its limit, and the transport goes on working', async () => {
    const get = await setup();
    const failed = await get('/big-error');
    expect(failed.statusCode).toBe(500);
    const received = await failed.body.received;
    expect(received.error).toBeUndefined();
    expect(received.bytes).toBe(MAX_ERROR_BODY_BYTES);
    const next = await get('/small');
    expect(joinChunks((await next.body.received).chunks, 2).toString()).toBe('ok');
  });

  it('drains a small discarded body on the same connection; closes the connection under a large one', async () => {
    const get = await setup();
    const small = await get('/small');
    small.body.discard();
    await small.body.received;
    await (await get('/small')).body.received;
    expect(stub?.connections()).toBe(1);

    expect(payload.length).toBeGreaterThan(DISCARD_LIMIT_BYTES);
    const large = await get('/payload');
    large.body.discard();
    const dropped = await large.body.received;
    expect(dropped.bytes).toBe(0);
    const after = await get('/small');
    expect(joinChunks((await after.body.received).chunks, 2).toString()).toBe('ok');
    expect(stub?.connections()).toBe(2);
  });
});
