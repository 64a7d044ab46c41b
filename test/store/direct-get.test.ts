import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NetworkError } from '../../src/store/errors.js';
import { HttpTransport, type StoreRequest } from '../../src/store/http-transport.js';
import { joinChunks } from '../../src/store/response-body.js';
import { startHttpStub, type HttpStub } from './http-stub.js';

const payload = randomBytes(3 * 1024 * 1024 + 17);

/** A TCP server that answers each request with the bytes `answer` gives, for framings an HTTP server never sends. */
async function startRawServer(
  answer: (socket: Socket, request: string, count: number) => void,
): Promise<{ url: string; connections: () => number; openConnections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', (data) => {
      pending += data.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        const end = pending.indexOf('\r\n\r\n') + 4;
        count += 1;
        answer(socket, pending.slice(0, end), count);
        pending = pending.slice(end);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('object GETs read straight into one buffer (plain HTTP)', () => {
  let stub: HttpStub | undefined;
  let raw: Awaited<ReturnType<typeof startRawServer>> | undefined;
  let transport: HttpTransport | undefined;

  afterEach(async () => {
    await transport?.close();
    await stub?.close();
    await raw?.close();
    transport = undefined;
    stub = undefined;
    raw = undefined;
  });

  function get(origin: string, path: string, extra: Partial<StoreRequest> = {}): ReturnType<HttpTransport['send']> {
    transport ??= new HttpTransport({ connectionsPerOrigin: 2 });
    return transport.send({ method: 'GET', target: { origin, path }, headers: { authorization: 'Bearer t' }, what: `GET ${path}`, ...extra });
  }

  async function bodyOf(response: Awaited<ReturnType<typeof get>>): Promise<Buffer> {
    const received = await response.body.received;
    expect(received.error).toBeUndefined();
    return joinChunks(received.chunks, received.bytes);
  }

  it('fills the buffer the caller offers, byte for byte, and sends the request headers', async () => {
    stub = await startHttpStub((_request, response) => response.writeHead(200, { 'content-length': payload.length }).end(payload));
    const offered = Buffer.alloc(payload.length);
    const response = await get(stub.url, '/o', { bodyBuffer: (bytes) => (bytes === offered.length ? offered : undefined) });
    const received = await response.body.received;
    expect(received.chunks).toHaveLength(1);
    expect(received.chunks[0]!.buffer).toBe(offered.buffer);
    expect(offered.equals(payload)).toBe(true);
    expect(stub.seen[0]?.headers.authorization).toBe('Bearer t');
  });

  it('fills several offered buffers in turn, as the block cache offers one per block', async () => {
    stub = await startHttpStub((_request, response) => response.writeHead(200, { 'content-length': payload.length }).end(payload));
    const cut = [0, 1000, 1000, payload.length - 5, payload.length];
    const offered = cut.slice(1).map((end, i) => Buffer.alloc(end - cut[i]!));
    const received = await (await get(stub.url, '/o', { bodyBuffer: () => offered })).body.received;
    expect(received.error).toBeUndefined();
    expect(received.chunks.map((chunk) => chunk.buffer)).toEqual(offered.filter((buffer) => buffer.length > 0).map((buffer) => buffer.buffer));
    expect(Buffer.concat(offered).equals(payload)).toBe(true);
  });

  it('uses fresh memory when the offered buffer does not fit the body', async () => {
    stub = await startHttpStub((_request, response) => response.writeHead(200, { 'content-length': payload.length }).end(payload));
    const offered = Buffer.alloc(10);
    const body = await bodyOf(await get(stub.url, '/o', { bodyBuffer: () => offered }));
    expect(body.equals(payload)).toBe(true);
    expect(body.buffer).not.toBe(offered.buffer);
  });

  it('sends a chunked or close-delimited answer again through the general client, which reads it', async () => {
    stub = await startHttpStub((request, response) => {
      response.writeHead(request.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' });
      response.write('abc');
      response.end('def');
    });
    expect((await bodyOf(await get(stub.url, '/o'))).toString()).toBe('abcdef');
    const missing = await get(stub.url, '/missing');
    expect(missing.statusCode).toBe(404);
    expect((await bodyOf(missing)).toString()).toBe('abcdef');
    expect(stub.seen.map((request) => request.url)).toEqual(['/o', '/o', '/missing', '/missing']);
  });

  it('goes on a fresh connection when the server closed the idle one', async () => {
    raw = await startRawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      // A keep-alive answer, then the server drops the connection (its idle timeout, say).
      setTimeout(() => socket.end(), 20);
    });
    expect((await bodyOf(await get(raw.url, '/a'))).toString()).toBe('ok');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await bodyOf(await get(raw.url, '/b'))).toString()).toBe('ok');
    expect(raw.connections()).toBe(2);
  });

  it('copies nothing of a first read but an incomplete head: the body bytes it brought go straight into the offered buffer', async () => {
    const body = payload.subarray(0, 48 * 1024);
    raw = await startRawServer((socket) => socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`), body])));
    const offered = Buffer.alloc(body.length);
    const copies: number[] = [];
    const from = Buffer.from.bind(Buffer);
    const spy = vi.spyOn(Buffer, 'from').mockImplementation(((...args: Parameters<typeof Buffer.from>) => {
      const made = (from as (...all: unknown[]) => Buffer)(...args);
      copies.push(made.length);
      return made;
    }) as typeof Buffer.from);
    try {
      const received = await (await get(raw.url, '/o', { bodyBuffer: () => offered })).body.received;
      expect(received.error).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    expect(offered.equals(body)).toBe(true);
    // The request's own head is made with Buffer.from; nothing the size of the body is.
    expect(Math.max(0, ...copies)).toBeLessThan(4096);
  });

  it('skips an interim 100 answer and reads a head that arrives in pieces', async () => {
    raw = await startRawServer((socket) => {
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 206 Partial Content\r\ncontent-le');
      setTimeout(() => socket.write('ngth: 5\r\nais-version: 7\r\nx-twice: 1\r\nx-twice: 2\r\n\r\nhel'), 10);
      setTimeout(() => socket.write('lo'), 20);
    });
    const response = await get(raw.url, '/o');
    expect(response.statusCode).toBe(206);
    expect(response.headers['ais-version']).toBe('7');
    expect(response.headers['x-twice']).toEqual(['1', '2']);
    expect((await bodyOf(response)).toString()).toBe('hello');
  });

  it('fails a malformed answer, or one longer than its Content-Length, as a network error and recovers', async () => {
    raw = await startRawServer((socket, request) => {
      if (request.startsWith('GET /garbage')) socket.write('SPDY/9 what\r\n\r\n');
      else if (request.startsWith('GET /long')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\ntoo long');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    await expect(get(raw.url, '/garbage')).rejects.toBeInstanceOf(NetworkError);
    await expect(get(raw.url, '/long')).rejects.toBeInstanceOf(NetworkError);
    expect((await bodyOf(await get(raw.url, '/fine'))).toString()).toBe('ok');
  });

  it('keeps at most connectionsPerOrigin connections; further requests wait their turn', async () => {
    stub = await startHttpStub((_request, response) => {
      setTimeout(() => response.writeHead(200, { 'content-length': 2 }).end('ok'), 20);
    });
    const bodies = await Promise.all(Array.from({ length: 8 }, async (_, i) => (await bodyOf(await get(stub!.url, `/${i}`))).toString()));
    expect(bodies).toEqual(Array.from({ length: 8 }, () => 'ok'));
    expect(stub.connections()).toBe(2);
  });

  it('closes the connection when an unfinished body in the caller\'s memory is discarded', async () => {
    raw = await startRawServer((socket, request) => {
      if (request.startsWith('GET /slow')) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
        setTimeout(() => socket.write('defghij'), 50);
      } else {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
    const offered = Buffer.alloc(10, 0);
    const response = await get(raw.url, '/slow', { bodyBuffer: () => offered });
    response.body.discard();
    await response.body.received;
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Nothing came into the offered buffer after the discard.
    expect(offered.subarray(3).equals(Buffer.alloc(7, 0))).toBe(true);
    expect((await bodyOf(await get(raw.url, '/next'))).toString()).toBe('ok');
    expect(raw.connections()).toBe(2);
  });

  it('on close, lets an answer being read finish, then closes its connection instead of keeping it', async () => {
    raw = await startRawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab');
      setTimeout(() => socket.write('cd'), 50);
    });
    const response = await get(raw.url, '/o');
    await transport!.close();
    expect((await bodyOf(response)).toString()).toBe('abcd');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(raw.openConnections()).toBe(0);
    transport = undefined;
  });

  it('leaves a GET with a body (a listing) to the general client', async () => {
    stub = await startHttpStub((request, response) => response.writeHead(200, { 'content-length': request.body.length }).end(request.body));
    transport = new HttpTransport({ connectionsPerOrigin: 1 });
    const response = await transport.send({ method: 'GET', target: { origin: stub.url, path: '/list' }, headers: {}, body: 'query', what: 'list' });
    expect((await bodyOf(response)).toString()).toBe('query');
    expect(stub.seen[0]?.body.toString()).toBe('query');
  });
});
