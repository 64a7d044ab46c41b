import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AistoreClient } from '../../src/store/aistore-client.js';
import type { BaseParams } from '../../src/store/base-params.js';
import { ConflictError, NotFoundError, ServerError } from '../../src/store/errors.js';
import { listAll, type ListEntry } from '../../src/store/object-store.js';
import type { RetryEvent } from '../../src/store/retry-policy.js';
import { useServer } from '../helpers/server.js';

/** Fast back-off so bounded retries take milliseconds; enough attempts that 20% faults never exhaust them. */
const FAST_RETRY = { maxAttempts: 12, baseDelayMs: 2, maxDelayMs: 20, timeoutMs: 20_000 } as const;

const objects: Record<string, Buffer> = {};
for (let index = 0; index < 24; index += 1) {
  objects[`data/part-${String(index).padStart(2, '0')}.bin`] = randomBytes(1024 + index * 37_000);
}
const files = Object.fromEntries(Object.entries(objects).map(([name, data]) => [`b/${name}`, data]));

function params(endpoint: string): BaseParams {
  return { endpoint, headers: {} };
}

async function collect(entries: AsyncGenerator<ListEntry>): Promise<ListEntry[]> {
  const all: ListEntry[] = [];
  for await (const entry of entries) all.push(entry);
  return all;
}

const clients: AistoreClient[] = [];
function client(options: ConstructorParameters<typeof AistoreClient>[0] = {}): AistoreClient {
  const made = new AistoreClient(options);
  clients.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((made) => made.close()));
});

describe('retries against a server injecting 20% faults', () => {
  const server = useServer(files, { faults: { rate: 0.2, latencyMs: 30, seed: 20261123 } });

  it('GETs (whole and ranged), HEADs and listings all succeed with the right bytes', async () => {
    const events: RetryEvent[] = [];
    const store = client({ retry: { ...FAST_RETRY, onRetry: (event) => events.push(event) } });
    const endpoint = params(server.url);
    const bucket = { name: 'b' };
    for (const [name, data] of Object.entries(objects)) {
      const whole = await store.get(endpoint, bucket, name);
      expect(whole.data.equals(data), name).toBe(true);
      expect(whole.objectSize).toBe(data.length);
      const offset = Math.floor(data.length / 3);
      const part = await store.get(endpoint, bucket, name, { offset, length: 5000 });
      expect(part.data.equals(data.subarray(offset, offset + 5000)), `${name} range`).toBe(true);
      const info = await store.head(endpoint, bucket, name);
      expect(info.size).toBe(data.length);
    }
    for (let round = 0; round < 3; round += 1) {
      const listed = await collect(listAll((request) => store.listPage(endpoint, bucket, request), { prefix: 'data/', pageSize: 5 }));
      expect(listed.map((entry) => entry.name)).toEqual(Object.keys(objects).sort());
    }
    expect((await store.listBuckets(endpoint)).map((ref) => ref.name)).toEqual(['b']);
    const stats = store.stats;
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.retries).toBe(events.length);
    expect(stats.exhausted).toBe(0);
    expect(Object.values(stats.retriesByReason).reduce((sum, count) => sum + count, 0)).toBe(stats.retries);
    expect(stats.retriesByReason.network).toBeGreaterThan(0);
    expect(stats.retriesByReason['server-error']).toBeGreaterThan(0);
    // Calls are sequential, so the seed fixes which faults fall where: some resets cut a GET mid-body.
    expect(stats.resumedBodies).toBeGreaterThan(0);
  });
});

describe('a server that always fails', () => {
  const server = useServer(files, { faults: { rate: 1, kinds: ['500'], seed: 1 } });

  it('surfaces the ServerError after maxAttempts', async () => {
    const store = client({ retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 } });
    await expect(store.get(params(server.url), { name: 'b' }, 'data/part-00.bin')).rejects.toBeInstanceOf(ServerError);
    expect(store.stats).toMatchObject({ retries: 3, exhausted: 1 });
  });

  it('retries until the retry timeout, and surfaces it then, not earlier, whatever maxAttempts says', async () => {
    const store = client({ retry: { maxAttempts: 1000, baseDelayMs: 40, maxDelayMs: 40, timeoutMs: 300 } });
    const started = performance.now();
    // The server's 500, or the timeout of an attempt the deadline cut off, which names it.
    await expect(store.head(params(server.url), { name: 'b' }, 'data/part-00.bin')).rejects.toThrow(/\b500\b/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(299);
    expect(store.stats.exhausted).toBe(1);
    expect(store.stats.retries).toBeGreaterThan(1);
    expect(store.stats.retries).toBeLessThan(1000);
  });

  it('a call\'s own retry timeout overrides the client\'s', async () => {
    const store = client({ retry: { baseDelayMs: 40, maxDelayMs: 40, timeoutMs: 60_000 } });
    const started = performance.now();
    await expect(store.head(params(server.url), { name: 'b' }, 'data/part-00.bin', { retryTimeoutMs: 200 })).rejects.toThrow(/\b500\b/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(199);
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('never retries a PUT on a 500 (the object may have been stored)', async () => {
    const store = client({ retry: { maxAttempts: 4, baseDelayMs: 5 } });
    await expect(store.put(params(server.url), { name: 'b' }, 'new', 'x')).rejects.toBeInstanceOf(ServerError);
    expect(store.stats.retries).toBe(0);
  });
});

describe('not-found is never retried', () => {
  const server = useServer(files);
  it('a 404 fails on the first attempt', async () => {
    const store = client({ retry: FAST_RETRY });
    await expect(store.get(params(server.url), { name: 'b' }, 'nope')).rejects.toBeInstanceOf(NotFoundError);
    expect(store.stats.retries).toBe(0);
  });
});

/**
 * A hand-written object server: it serves one object (honouring `Range`), can cut the next responses off after
 * some bytes, can change the object's version, and answers PUTs from a script of statuses.
 */
class ScriptedServer {
  content = randomBytes(300 * 1024);
  version = 'v1';
  /** Each entry: cut that response after this many body bytes. */
  cuts: number[] = [];
  putStatuses: number[] = [];
  /** Set as the object's version right after the next cut (a writer replaced the object mid-read). */
  versionAfterCut: string | undefined;
  readonly ranges: Array<string | undefined> = [];
  puts = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    if (request.method === 'PUT') {
      this.puts += 1;
      request.resume();
      const status = this.putStatuses.shift() ?? 200;
      response.writeHead(status, { 'Content-Length': 0 });
      response.end();
      return;
    }
    const header = request.headers.range;
    this.ranges.push(header);
    const match = header === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(header);
    const size = this.content.length;
    const first = match ? Number(match[1]) : 0;
    const last = match && match[2] !== '' ? Number(match[2]) : size - 1;
    const body = this.content.subarray(first, last + 1);
    response.writeHead(match ? 206 : 200, {
      'Content-Length': body.length,
      'Ais-Version': this.version,
      ...(match ? { 'Content-Range': `bytes ${first}-${last}/${size}` } : {}),
    });
    const cut = this.cuts.shift();
    if (cut === undefined) {
      response.end(body);
      return;
    }
    response.write(body.subarray(0, cut), () => {
      request.socket.destroy();
      if (this.versionAfterCut !== undefined) this.version = this.versionAfterCut;
      this.versionAfterCut = undefined;
    });
  }
}

describe('a GET whose body breaks off', () => {
  const scripted = new ScriptedServer();
  beforeAll(() => scripted.start());
  afterAll(() => scripted.close());
  afterEach(() => {
    scripted.cuts = [];
    scripted.ranges.length = 0;
    scripted.version = 'v1';
  });

  it('continues from the byte it reached and returns identical bytes', async () => {
    const store = client({ retry: FAST_RETRY });
    scripted.cuts = [100_000, 50_000];
    const result = await store.get(params(scripted.url), { name: 'b' }, 'obj');
    expect(result.data.equals(scripted.content)).toBe(true);
    expect(result.objectSize).toBe(scripted.content.length);
    expect(result.version).toBe('v1');
    expect(scripted.ranges).toEqual([undefined, 'bytes=100000-', 'bytes=150000-']);
    expect(store.stats).toMatchObject({ retries: 2, resumedBodies: 2, retriesByReason: { network: 2 } });
  });

  it('continues a ranged read within its range', async () => {
    const store = client({ retry: FAST_RETRY });
    scripted.cuts = [7_000];
    const result = await store.get(params(scripted.url), { name: 'b' }, 'obj', { offset: 1000, length: 20_000 });
    expect(result.data.equals(scripted.content.subarray(1000, 21_000))).toBe(true);
    expect(scripted.ranges).toEqual(['bytes=1000-20999', 'bytes=8000-20999']);
  });

  it('fails rather than join two versions of the object', async () => {
    const store = client({ retry: FAST_RETRY });
    scripted.cuts = [100_000];
    scripted.versionAfterCut = 'v2';
    const reading = store.get(params(scripted.url), { name: 'b' }, 'obj');
    await expect(reading).rejects.toBeInstanceOf(ConflictError);
    await expect(reading).rejects.toThrow(/changed while being read/);
  });

  it('retries a PUT answered 429, but not one answered 503', async () => {
    const store = client({ retry: FAST_RETRY });
    const endpoint = params(scripted.url);
    scripted.puts = 0;
    scripted.putStatuses = [429, 429];
    await store.put(endpoint, { name: 'b' }, 'obj', 'data');
    expect(scripted.puts).toBe(3);
    scripted.puts = 0;
    scripted.putStatuses = [503];
    await expect(store.put(endpoint, { name: 'b' }, 'obj', 'data')).rejects.toBeInstanceOf(ServerError);
    expect(scripted.puts).toBe(1);
  });
});

describe('a store that is not listening', () => {
  it('a PUT is retried on a refused connection (nothing was sent), then fails with the NetworkError', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const store = client({ retry: { maxAttempts: 3, baseDelayMs: 2 } });
    await expect(store.put(params(`http://127.0.0.1:${port}`), { name: 'b' }, 'k', 'x')).rejects.toThrow(/ECONNREFUSED/);
    expect(store.stats).toMatchObject({ retries: 2, retriesByReason: { network: 2 }, exhausted: 1 });
  });
});
