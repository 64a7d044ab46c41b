import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeFifo } from '../auth/auth-fixture.js';
import { makeDataDir } from '../helpers/server.js';
import { killAll, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { waitUntil } from '../helpers/mount.js';
import { http, objectPath } from './http.js';

describe('bucketfs serve and bucketfs token (built CLI)', () => {
  let data: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    data = await makeDataDir({ 'b/hello.txt': 'hello from the CLI' });
    await writeFile(join(data.path, 'secret'), 'cli-secret-0123456789-0123456789ab\n');
  });
  afterEach(() => killAll());
  afterAll(async () => {
    killAll();
    await data?.remove();
  });

  it('serve prints its URL, serves, and stops cleanly on SIGTERM', async () => {
    const { child, output } = startCli(['serve', '--data', data.path, '--port', '0', '--log-level', 'warn']);
    await waitUntil(() => /serving .* on http:\/\/127\.0\.0\.1:\d+\n/.test(output()), 15_000, 'serve to print its URL');
    const url = /on (http:\/\/\S+)/.exec(output())?.[1] ?? '';
    expect(output()).toContain(`serving ${data.path} on ${url}`);
    expect((await http(url, { path: objectPath('b', 'hello.txt') })).text).toBe('hello from the CLI');
    child.kill('SIGTERM');
    expect(await waitForExit(child)).toBe(0);
  });

  it('serve --auth-secret-file accepts a token from `bucketfs token`', async () => {
    const secretFile = join(data.path, 'secret');
    const token = (await runCli(['token', '--secret-file', secretFile, '--ttl', '5m', '--sub', 'tester'])).stdout.trim();
    const { child, output } = startCli(['serve', '--data', data.path, '--port', '0', '--redirect', '--auth-secret-file', secretFile, '--log-level', 'warn']);
    await waitUntil(() => /on http:\/\/\S+\n/.test(output()), 15_000, 'serve to print its URL');
    const url = /on (http:\/\/\S+)/.exec(output())?.[1] ?? '';
    expect((await http(url, { path: '/v1/buckets/b', body: '{"action":"list","value":null}' })).status).toBe(401);
    expect((await http(url, { path: '/v1/buckets/b', headers: { authorization: `Bearer ${token}` }, body: '{"action":"list","value":null}' })).status).toBe(200);
    child.kill('SIGINT');
    expect(await waitForExit(child)).toBe(0);
  });

  it('serve of a missing folder fails with one clear line', async () => {
    const result = await runCli(['serve', '--data', join(data.path, 'missing'), '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`bucketfs: data folder ${join(data.path, 'missing')} is missing or not a folder`);
  });

  it('token prints an HS256 JWT with exp = now + ttl and the subject', async () => {
    const secretFile = join(data.path, 'secret');
    const result = await runCli(['token', '--secret-file', secretFile, '--ttl', '15m', '--sub', 'alice']);
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode('cli-secret-0123456789-0123456789ab'), { algorithms: ['HS256'] });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('alice');
    expect(Math.abs((payload.exp ?? 0) - (Date.now() / 1000 + 900))).toBeLessThan(30);
    expect(decodeJwt((await runCli(['token', '--secret-file', secretFile])).stdout.trim()).exp).toBeGreaterThan(Date.now() / 1000 + 3500);
  });

  it('token refuses a bad --ttl or a missing secret file, naming it', async () => {
    const badTtl = await runCli(['token', '--secret-file', join(data.path, 'secret'), '--ttl', 'soon']);
    expect(badTtl.code).toBe(1);
    expect(badTtl.stderr).toContain('"soon"');
    const missing = await runCli(['token', '--secret-file', join(data.path, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(join(data.path, 'nope'));
    expect(missing.stderr).not.toContain('    at ');
  });

  it('token refuses a FIFO or a short secret at once, in one line', async () => {
    const fifo = join(data.path, 'secret.fifo');
    makeFifo(fifo);
    const short = join(data.path, 'secret.short');
    await writeFile(short, 'too-short\n');
    for (const [secretFile, reason] of [[fifo, 'not a regular file (a FIFO)'], [short, 'the secret is 9 bytes; HS256 needs at least 32']] as const) {
      const result = await runCli(['token', '--secret-file', secretFile], { timeoutMs: 15_000 });
      expect(result.signal).toBeNull();
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`bucketfs: cannot use secret file ${secretFile}: ${reason}`);
    }
  });
});
