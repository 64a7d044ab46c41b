import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Agent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultInjector, parseFaultKinds, seededRandom } from '../../src/server/faults.js';
import { runCli } from '../helpers/processes.js';
import { useServer } from '../helpers/server.js';
import { errorOf, http, listBody, objectPath } from './http.js';

const big = randomBytes(512 * 1024);
const files = { 'b/big.bin': big, 'b/small.txt': 'small\n', 'b/empty': '' };

describe('fault options', () => {
  it.each([
    ['reset', ['reset']],
    ['reset,500, 503,slow', ['reset', '500', '503', 'slow']],
    ['500,', ['500']],
  ])('parses %j', (text, kinds) => {
    expect(parseFaultKinds(text)).toEqual(kinds);
  });

  it.each([['404', /unknown fault kind "404"/], ['', /no fault kinds/], ['reset,boom', /"boom"/]])('refuses %j', (text, message) => {
    expect(() => parseFaultKinds(text)).toThrow(message);
  });

  it('a seed gives the same sequence every time', () => {
    const first = seededRandom(42);
    const second = seededRandom(42);
    const a = Array.from({ length: 5 }, () => first());
    expect(Array.from({ length: 5 }, () => second())).toEqual(a);
    expect(a.every((value) => value >= 0 && value < 1)).toBe(true);
  });

  it('picks about `rate` of the requests, only of the given kinds', () => {
    const injector = new FaultInjector({ rate: 0.25, kinds: ['503', 'slow'], latencyMs: 7, seed: 3 });
    const actions = Array.from({ length: 4000 }, () => injector.next());
    const faulted = actions.filter((action) => action.kind !== 'none');
    expect(faulted.length).toBeGreaterThan(800);
    expect(faulted.length).toBeLessThan(1200);
    expect(new Set(faulted.map((action) => action.kind))).toEqual(new Set(['status', 'slow']));
    expect(faulted.find((action) => action.kind === 'slow')).toEqual({ kind: 'slow', delayMs: 7 });
    expect(injector.injected).toBe(faulted.length);
  });

  it('refuses a rate outside 0–1', () => {
    expect(() => new FaultInjector({ rate: 1.5 })).toThrow(/between 0 and 1/);
  });
});

describe('a server injecting 503 into every request', () => {
  const server = useServer(files, { faults: { rate: 1, kinds: ['503'], seed: 1 } });

  it('answers object and listing calls with an AIStore JSON 503, and health with 200', async () => {
    const get = await http(server.url, { path: objectPath('b', 'small.txt') });
    expect(get.status).toBe(503);
    expect(JSON.parse(get.text)).toMatchObject({ status: 503, tcode: 'ErrServiceUnavailable', message: expect.stringContaining('injected') });
    const head = await http(server.url, { method: 'HEAD', path: objectPath('b', 'small.txt') });
    expect(head.status).toBe(503);
    expect(errorOf(head).status).toBe(503);
    const list = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: listBody({}), headers: { 'content-type': 'application/json' } });
    expect(list.status).toBe(503);
    for (let index = 0; index < 5; index += 1) expect((await http(server.url, { path: '/v1/health' })).status).toBe(200);
  });
});

describe('a server injecting slow answers', () => {
  const server = useServer(files, { faults: { rate: 1, kinds: ['slow'], latencyMs: 300, seed: 1 } });

  it('delays, then answers correctly', async () => {
    const started = Date.now();
    const get = await http(server.url, { path: objectPath('b', 'small.txt') });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(get.status).toBe(200);
    expect(get.text).toBe('small\n');
  });
});

describe('a server injecting resets', () => {
  const server = useServer(files, { faults: { rate: 1, kinds: ['reset'], seed: 5 } });
  const agent = new Agent();
  afterAll(() => agent.close());

  /** How one GET ended: dropped before any header, or after the headers with part of the body. */
  async function outcome(path: string): Promise<'before-headers' | { receivedBytes: number; announcedBytes: number }> {
    let answer;
    try {
      answer = await agent.request({ origin: server.url, path, method: 'GET' });
    } catch {
      return 'before-headers';
    }
    let receivedBytes = 0;
    try {
      for await (const chunk of answer.body as AsyncIterable<Buffer>) receivedBytes += chunk.length;
    } catch {
      // the drop
    }
    return { receivedBytes, announcedBytes: Number(answer.headers['content-length']) };
  }

  it('drops connections sometimes before the headers, sometimes mid-body, never delivering a whole body', async () => {
    const outcomes = [];
    for (let index = 0; index < 20; index += 1) outcomes.push(await outcome(objectPath('b', 'big.bin')));
    const midBody = outcomes.filter((entry): entry is { receivedBytes: number; announcedBytes: number } => entry !== 'before-headers');
    expect(outcomes.filter((entry) => entry === 'before-headers').length).toBeGreaterThan(0);
    expect(midBody.length).toBeGreaterThan(0);
    for (const entry of midBody) {
      expect(entry.announcedBytes).toBe(big.length);
      expect(entry.receivedBytes).toBeLessThan(big.length);
    }
    expect((await http(server.url, { path: '/v1/health' })).status).toBe(200);
  });

  it('drops a HEAD and an empty object before the headers (nothing to cut)', async () => {
    for (let index = 0; index < 6; index += 1) {
      await expect(agent.request({ origin: server.url, path: objectPath('b', 'empty'), method: 'GET' }).then((answer) => answer.body.text())).rejects.toThrow();
      await expect(agent.request({ origin: server.url, path: objectPath('b', 'small.txt'), method: 'HEAD' })).rejects.toThrow();
    }
  });
});

describe('refusing oversized and malformed requests', () => {
  const server = useServer(files);
  const listHeaders = { 'content-type': 'application/json' };

  it('a listing body over 1 MiB is a 413', async () => {
    const huge = listBody({ prefix: 'x'.repeat(1024 * 1024 + 10) });
    const answer = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: huge, headers: listHeaders });
    expect(answer.status).toBe(413);
    expect(errorOf(answer).message).toMatch(/too large/);
  });

  it('malformed JSON is a 400', async () => {
    const answer = await http(server.url, { path: '/v1/buckets/b?provider=ais', body: '{"action": "list", ', headers: listHeaders });
    expect(answer.status).toBe(400);
    expect(errorOf(answer).message).toMatch(/not valid JSON/);
  });

  it('an object name over 1024 bytes is a 400, one of 1024 is served (here: absent)', async () => {
    const tooLong = await http(server.url, { path: objectPath('b', `${'a/'.repeat(400)}${'é'.repeat(113)}`) });
    expect(tooLong.status).toBe(400);
    expect(errorOf(tooLong).message).toMatch(/longer than 1024 bytes/);
    const atLimit = await http(server.url, { path: objectPath('b', `${'a/'.repeat(400)}${'b'.repeat(224)}`) });
    expect(atLimit.status).toBe(404);
  });

  it('a request target over 8 KiB is a 414', async () => {
    const answer = await http(server.url, { path: `${objectPath('b', 'small.txt')}&pad=${'p'.repeat(8200)}` });
    expect(answer.status).toBe(414);
  });

  /** Sends bytes as they are (no client would send them) and returns the status line of the answer. */
  const rawStatusLine = (bytes: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      const socket = connect(Number(port), hostname, () => socket.end(bytes));
      let received = '';
      socket.setEncoding('latin1');
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(received.split('\r\n')[0] ?? ''));
    });

  it.each([
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 'HTTP/1.1 400 Bad Request'],
    ['a Content-Length that is not a number', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 'HTTP/1.1 400 Bad Request'],
    ['a header without a colon', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n', 'HTTP/1.1 400 Bad Request'],
    ['headers over 16 KiB', `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, 'HTTP/1.1 431 Request Header Fields Too Large'],
  ])('%s is a 4xx before any route runs', async (_label, bytes, statusLine) => {
    expect(await rawStatusLine(bytes)).toBe(statusLine);
    expect((await http(server.url, { path: '/v1/health' })).status).toBe(200);
  });

  it.each([
    ['a listing body that is not an object', { path: '/v1/buckets/b?provider=ais', body: '[1,2]' }, 400, /not a JSON object/],
    ['an unknown action', { path: '/v1/buckets/b?provider=ais', body: '{"action":"bogus"}' }, 400, /unsupported action/],
    ['a bad %-escape in an object name', { path: '/v1/objects/b/%zz?provider=ais' }, 400, /./],
    ['an encoded ".." as bucket name', { path: '/v1/buckets/%2e%2e?provider=ais' }, 400, /path segment/],
    ['a malformed range', { path: objectPath('b', 'small.txt'), headers: { range: 'bytes=abc' } }, 416, /malformed range/],
  ] as const)('%s is refused with %i and an AIStore JSON error', async (_label, call, status, message) => {
    const answer = await http(server.url, { ...call, headers: { 'content-type': 'application/json', ...('headers' in call ? call.headers : {}) } });
    expect(answer.status).toBe(status);
    expect(errorOf(answer)).toMatchObject({ status, message: expect.stringMatching(message) });
  });

  it('methods no route serves are a 405', async () => {
    const agent = new Agent();
    try {
      for (const [method, path] of [
        ['PATCH', objectPath('b', 'small.txt')],
        ['OPTIONS', '/v1/buckets/b'],
        ['POST', '/v1/health'],
        ['PUT', '/v1/buckets'],
        ['DELETE', '/v1/health'],
      ] as const) {
        const answer = await agent.request({ origin: server.url, path, method });
        const text = await answer.body.text();
        expect(answer.statusCode, `${method} ${path}`).toBe(405);
        expect(JSON.parse(text)).toMatchObject({ status: 405 });
      }
    } finally {
      await agent.close();
    }
  });
});

describe('`bucketfs serve` fault flags (run `npx tsc` first)', () => {
  const server = useServer(files);
  it.each([
    [['--fault-rate', '1.5'], /invalid --fault-rate "1\.5": expected a number from 0 to 1/],
    [['--fault-rate', 'often'], /invalid --fault-rate "often"/],
    [['--fault-rate', '0.1', '--fault-kinds', 'reset,404'], /invalid --fault-kinds: unknown fault kind "404"/],
    [['--fault-rate', '0.1', '--fault-latency-ms', '1.5s'], /invalid --fault-latency-ms "1\.5s"/],
    [['--fault-kinds', 'reset'], /need --fault-rate/],
  ])('refuses %j in one line', async (flags, message) => {
    const result = await runCli(['serve', '--data', server.dataDir, '--port', '0', ...flags]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
